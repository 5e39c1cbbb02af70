"""The sections of the settings (``[api]``, ``[storage]``, ...) and one ``[[events]]`` entry.

Durations are float seconds and sizes int bytes once validated (see :mod:`syncer.units`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from syncer.bibs import parse_bib_spec
from syncer.config.sources import default_ledger
from syncer.errors import ConfigError
from syncer.layout import DEFAULT_PEOPLE_TEMPLATE, DEFAULT_TEMPLATE, NameRules, Template
from syncer.units import parse_duration, parse_size
from syncer.windows import Window, window_of

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
log = logging.getLogger("syncer.config")
_LOG_LEVELS = Literal["debug", "info", "warning", "error", "critical"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApiSettings(_Section):
    """``[api]``: how to reach 9Pic."""

    base_url: str = "https://api.9pic.ai"
    org_id: int | None = Field(default=None, gt=0)
    key: SecretStr | None = None
    timeout: Duration = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=16)
    max_attempts: int = Field(default=8, ge=1, le=100)
    throttle_deadline: Duration = 900.0

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username:
            raise ValueError(f"expected an http(s) URL such as https://api.9pic.ai, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"the URL must not have a query or fragment, got {value!r}")
        return value.strip().rstrip("/")

    @field_validator("key", mode="before")
    @classmethod
    def _strip_key(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value


def _bool_or_auto(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        words = {"auto": "auto", "true": True, "yes": True, "1": True}
        words |= {"false": False, "no": False, "0": False}
        if text not in words:
            raise ValueError(f"expected 'auto', true or false, got {value!r}")
        return words[text]
    return value


def _optional_path(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class StorageSettings(_Section):
    """``[storage]``: where and how photos are written."""

    root: Annotated[Path | None, BeforeValidator(_optional_path)] = None
    ledger: str = Field(default_factory=lambda: str(default_ledger({})))
    layout: str = DEFAULT_TEMPLATE
    people_layout: str = DEFAULT_PEOPLE_TEMPLATE
    names: Literal["portable", "posix"] = "portable"
    links: Literal["auto", "hardlink", "copy"] = "auto"
    case_insensitive: Annotated[Literal["auto"] | bool, BeforeValidator(_bool_or_auto)] = "auto"
    min_free: Size = 2 * 1024**3
    require_marker: bool = True
    on_remote_delete: Literal["keep", "trash"] = "keep"
    trash_max_share: float = Field(default=0.1, ge=0, le=1)

    @field_validator("layout")
    @classmethod
    def _check_layout(cls, value: str) -> str:
        try:
            Template.parse(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("people_layout")
    @classmethod
    def _check_people_layout(cls, value: str) -> str:
        try:
            Template.parse(value, people=True)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("ledger")
    @classmethod
    def _check_ledger(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a file path or an SQLAlchemy URL")
        return value.strip()

    @property
    def template(self) -> Template:
        """The parsed layout template."""
        return Template.parse(self.layout)

    @property
    def people_template(self) -> Template:
        """The parsed layout template of people folders."""
        return Template.parse(self.people_layout, people=True)

    @property
    def name_rules(self) -> NameRules:
        return NameRules(portable=self.names == "portable")


class DownloadSettings(_Section):
    """``[download]``: the worker pool and per-photo retries.

    How many downloads run at once adapts between ``workers_min`` and ``workers_max`` to the
    store's throughput; ``workers``, when set, pins it (see :attr:`pinned_workers`).

    A photo that fails for a passing reason is tried again within the run after a jittered
    backoff (``backoff_base`` doubling up to ``backoff_cap``), ``max_attempts`` tries in all;
    then a later run tries it again after ``retry_base`` doubling up to ``retry_cap``.
    """

    workers: int = Field(default=8, ge=1, le=64)
    workers_min: int = Field(default=4, ge=1, le=64)
    workers_max: int = Field(default=32, ge=1, le=64)
    presign_batch: int = Field(default=60, ge=1, le=60)
    timeout: Duration = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base: Duration = Field(default=1.0, gt=0)
    backoff_cap: Duration = Field(default=30.0, gt=0)
    retry_base: Duration = Field(default=60.0, gt=0)
    retry_cap: Duration = Field(default=6 * 3600.0, gt=0)
    fsync: bool = True
    direct_io: bool = True

    @model_validator(mode="before")
    @classmethod
    def _drop_processes(cls, data: object) -> object:
        """``processes`` (worker processes) is gone: downloads run in threads. Older configs
        that still set it keep working."""
        if isinstance(data, dict) and "processes" in data:
            data = {key: value for key, value in data.items() if key != "processes"}
            log.warning("download.processes is no longer used (downloads run in threads)")
        return data

    @property
    def pinned_workers(self) -> int | None:
        """``workers`` when the configuration (or ``--workers``) sets it, else None (adaptive)."""
        return self.workers if "workers" in self.model_fields_set else None

    @model_validator(mode="after")
    def _check_retry(self) -> DownloadSettings:
        if self.workers_max < self.workers_min:
            raise ValueError("workers_max must not be smaller than workers_min")
        if self.retry_cap < self.retry_base:
            raise ValueError("retry_cap must not be smaller than retry_base")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must not be smaller than backoff_base")
        return self


class PeopleSettings(_Section):
    """``[people]``: selfie searches (FaceFind) and video clips (Motion)."""

    selfie_field: str = Field(default="file", min_length=1, max_length=100)
    max_selfie_size: Size = Field(default=10 * 1024**2, gt=0)
    clip_deadline: Duration = Field(default=900.0, gt=0)


class ScheduleSettings(_Section):
    """``[schedule]``: the daemon's cycle timing (seconds)."""

    interval: Duration = Field(default=900.0, gt=0)
    jitter: Duration = 30.0
    active_interval: Duration = Field(default=300.0, gt=0)
    active_window: Duration = 86400.0
    verify_interval: Duration = 0.0
    files_interval: Duration = 3600.0


class HealthSettings(_Section):
    """``[health]``: the optional /healthz and /metrics listener."""

    listen: str = ""
    allow_remote: bool = False
    max_age: Duration = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _check_listen(self) -> HealthSettings:
        address = self.address
        if address and not self.allow_remote and not _is_loopback(address[0]):
            raise ValueError(
                f"listen {self.listen!r} is not a loopback address; "
                "set health.allow_remote = true to expose it"
            )
        return self

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)``, or None when the listener is off."""
        if not self.listen.strip():
            return None
        match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d{1,5})|([^:\[\]\s]+):(\d{1,5})", self.listen)
        port = int(match.group(2) or match.group(4)) if match else -1
        if match is None or port > 65535:
            raise ValueError(f"listen must be HOST:PORT (e.g. 127.0.0.1:9187), got {self.listen!r}")
        return (match.group(1) or match.group(3)), port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_node_name() -> str:
    """The host name (its first label), made a valid node name."""
    host = socket.gethostname().split(".")[0]
    name = re.sub(r"[^A-Za-z0-9._-]", "-", host).lstrip("._-")[:64]
    return name or "node"


class NodeSettings(_Section):
    """``[node]``: this machine among the nodes that share one ledger."""

    name: str = Field(default_factory=default_node_name)
    lease: Duration = Field(default=60.0, ge=1.0, le=86400.0)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        text = value.strip()
        if not NODE_NAME.fullmatch(text):
            raise ValueError(
                f"expected 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit "
                f"(it names a folder), got {value!r}"
            )
        return text


class LogSettings(_Section):
    """``[log]``: format and level of log lines; how often a sync not on a terminal logs its
    progress (0: never)."""

    format: Literal["text", "json"] = "text"
    level: Annotated[_LOG_LEVELS, BeforeValidator(_lower)] = "info"
    progress_interval: Duration = Field(default=30.0, ge=0)


def _bibs_input(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


class PersonSettings(_Section):
    """One ``[[events.people]]`` entry: a person whose photos (and clips) get their own folder."""

    name: str = Field(min_length=1, max_length=100)
    selfie: Path
    clips: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a person's name must not be blank")
        return value.strip()


def unique_people(people: list[PersonSettings]) -> list[PersonSettings]:
    """``people`` unchanged; ValueError when a name is listed twice (ignoring case)."""
    seen: set[str] = set()
    for person in people:
        if person.name.casefold() in seen:
            raise ValueError(f"person {person.name!r} is listed twice")
        seen.add(person.name.casefold())
    return people


class EventSettings(_Section):
    """One ``[[events]]`` entry."""

    id: int = Field(gt=0)
    bibs: Annotated[str | list[str] | None, BeforeValidator(_bibs_input)] = None
    interval: Duration | None = Field(default=None, gt=0)
    people: list[PersonSettings] = Field(default_factory=list)

    @field_validator("people", mode="after")
    @classmethod
    def _check_people(cls, value: list[PersonSettings]) -> list[PersonSettings]:
        return unique_people(value)

    window: list[str] | None = None  # [from, until): walk only this capture-time window

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if len(value) != 2:
                raise ValueError('expected ["FROM", "UNTIL"], two ISO 8601 times or dates')
            window_of(*value)
        return value

    def timeline_window(self) -> Window | None:
        """The configured timeline window, or None (the whole gallery)."""
        return None if self.window is None else window_of(*self.window)

    def bib_list(self, base_dir: Path) -> list[str]:
        """The BIBs of this event (``@file`` items are read relative to ``base_dir``)."""
        return [] if self.bibs is None else parse_bib_spec(self.bibs, base_dir=base_dir)


def _events_input(value: object) -> object:
    """``"all"``, ``"456,789"``, a JSON list, or a list of ids / ``[[events]]`` tables."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "all":
            return "all"
        if not text.startswith("["):
            return [{"id": item} for item in re.split(r"[,\s]+", text) if item]
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError('expected "all", a JSON list or event ids like 456,789') from None
    if isinstance(value, list | tuple):
        return [{"id": v} if isinstance(v, int | str) else v for v in value]
    raise ValueError('expected "all", event ids such as 456,789, or [[events]] tables')


def unique_ids(events: list[EventSettings]) -> list[EventSettings]:
    """``events`` unchanged; ValueError when an event id is listed twice."""
    seen: set[int] = set()
    for event in events:
        if event.id in seen:
            raise ValueError(f"event {event.id} is listed twice")
        seen.add(event.id)
    return events


EventList = Annotated[list[EventSettings], Tag("list")]
Events = Annotated[
    EventList | Annotated[Literal["all"], Tag("all")],
    Discriminator(lambda v: "all" if isinstance(v, str) else "list"),
    BeforeValidator(_events_input),
    NoDecode,
]
UNION_TAGS = {"list", "all"}
