"""The root settings model: sources, precedence and the questions commands ask it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from syncer.config.sections import (
    ApiSettings,
    DownloadSettings,
    Events,
    EventSettings,
    HealthSettings,
    LogSettings,
    NodeSettings,
    PeopleSettings,
    PersonSettings,
    ScheduleSettings,
    StorageSettings,
    unique_ids,
)
from syncer.config.sources import LOADING, LoadContext, env_source, fallbacks, toml_source
from syncer.errors import ConfigError
from syncer.windows import Window

MASK = "********"


class Settings(BaseSettings):
    """All of syncer's settings; build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="SYNCER_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    api: ApiSettings = ApiSettings()
    storage: StorageSettings = Field(default_factory=StorageSettings)
    download: DownloadSettings = DownloadSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    health: HealthSettings = HealthSettings()
    node: NodeSettings = Field(default_factory=NodeSettings)
    log: LogSettings = LogSettings()
    people: PeopleSettings = PeopleSettings()
    events: Events = "all"

    _source_path: Path | None = PrivateAttr(default=None)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("events", mode="after")
    @classmethod
    def _check_events(cls, value: list[EventSettings] | str) -> Any:
        return value if isinstance(value, str) else unique_ids(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides > environment > TOML file > credentials and derived defaults."""
        ctx = LOADING.get() or LoadContext(env={}, cwd=Path.cwd(), path=None)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_source(settings_cls, ctx)]
        if ctx.path is not None:
            sources.append(toml_source(settings_cls, ctx))
        sources.append(InitSettingsSource(settings_cls, init_kwargs=fallbacks(ctx)))
        return tuple(sources)

    @property
    def source_path(self) -> Path | None:
        """The config file that was loaded, if any."""
        return self._source_path

    @property
    def base_dir(self) -> Path:
        """Where relative ``@file`` BIB lists live: the config file's folder, else the cwd."""
        return self._base_dir

    def origin(self, key: str) -> str:
        """Where ``section.key`` (or ``events``) came from: flag, environment, file, default."""
        return self._origins.get(key, "default")

    def missing_for_sync(self) -> list[str]:
        """What a sync still needs (organisation, key, root, events), one message each."""
        missing = []
        for require in (self.require_org, self.require_key, self.require_root):
            try:
                require()
            except ConfigError as exc:
                missing.append(exc.message)
        if self.event_ids() == []:
            missing.append("no events: remove the empty events list, or add [[events]] entries")
        return missing

    def event_ids(self) -> list[int] | None:
        """The configured event ids, or None for all of the org's active events."""
        return None if isinstance(self.events, str) else [event.id for event in self.events]

    def event(self, event_id: int) -> EventSettings | None:
        """The ``[[events]]`` entry of one event, if configured."""
        if isinstance(self.events, str):
            return None
        return next((event for event in self.events if event.id == event_id), None)

    def bibs_for(self, event_id: int) -> list[str]:
        """The parsed BIB list of one event ([] when it has none)."""
        event = self.event(event_id)
        return [] if event is None else event.bib_list(self.base_dir)

    def people_for(self, event_id: int) -> list[PersonSettings]:
        """The ``[[events.people]]`` of one event ([] when it has none)."""
        event = self.event(event_id)
        return [] if event is None else list(event.people)

    def window_for(self, event_id: int) -> Window | None:
        """The timeline window of one event's ``[[events]]`` entry (None: walk the gallery)."""
        event = self.event(event_id)
        return None if event is None else event.timeline_window()

    def require_org(self) -> int:
        if self.api.org_id is None:
            raise ConfigError(
                f"no organisation: set api.org_id in {self._file_hint()} or SYNCER_API__ORG_ID"
            )
        return self.api.org_id

    def require_key(self) -> SecretStr:
        if self.api.key is None:
            raise ConfigError(
                f"no API key: set SYNCER_API_KEY, api.key in {self._file_hint()}, "
                "or a systemd credential 'api_key'"
            )
        return self.api.key

    def require_root(self) -> Path:
        if self.storage.root is None:
            raise ConfigError(
                f"no storage root: set storage.root in {self._file_hint()} or SYNCER_STORAGE__ROOT"
            )
        return self.storage.root

    def _file_hint(self) -> str:
        return str(self._source_path) if self._source_path else "the config file"


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-able data, with the API key shown as ``"********"`` (or null), and
    so is the password of a database URL in ``storage.ledger``."""
    data = settings.model_dump(mode="json")
    data["api"]["key"] = MASK if settings.api.key is not None else None
    data["storage"]["ledger"] = masked_url(settings.storage.ledger)
    return data


def masked_url(value: str) -> str:
    """``scheme://user:********@host/...`` for a URL with a password; anything else as is."""
    if "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    netloc = urlsplit(f"//{rest}").netloc  # a prefix of rest: up to the first / ? or #
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return value
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:{MASK}@{host}{rest[len(netloc) :]}"
