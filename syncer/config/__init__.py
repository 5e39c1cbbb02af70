"""Typed, frozen settings: command line > environment (``SYNCER_...``) > TOML file > defaults.

:func:`load_settings` is the one place that reads the environment and the config file. Every
problem becomes a one-line :class:`~syncer.errors.ConfigError` naming the key and where the
value came from; the API key never appears in a message, a repr or a dump.
"""

from syncer.config.loading import config_candidates, find_config, load_settings
from syncer.config.sections import (
    ApiSettings,
    DownloadSettings,
    EventSettings,
    HealthSettings,
    LogSettings,
    NodeSettings,
    PeopleSettings,
    PersonSettings,
    ScheduleSettings,
    StorageSettings,
)
from syncer.config.settings import MASK, Settings, masked_settings

__all__ = [
    "MASK",
    "ApiSettings",
    "DownloadSettings",
    "EventSettings",
    "HealthSettings",
    "LogSettings",
    "NodeSettings",
    "PeopleSettings",
    "PersonSettings",
    "ScheduleSettings",
    "Settings",
    "StorageSettings",
    "config_candidates",
    "find_config",
    "load_settings",
    "masked_settings",
]
