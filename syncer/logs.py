"""Log output for people (text) and machines (JSON), with secrets scrubbed from every line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from syncer.config import MASK

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
STAMPED_FORMAT = "%(asctime)s " + TEXT_FORMAT
STAMP = "%Y-%m-%d %H:%M:%S"


class RedactFilter(logging.Filter):
    """Replaces any known secret value in a formatted message (defence in depth)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, MASK)
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    fmt: str = "text",
    level: str = "info",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> RedactFilter:
    """Configure the root logger once; returns the filter so secrets can be added later.

    Text lines start with the local time, except where journald records the stream (it stamps
    every line itself).
    """
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif journald_attached(os.environ if env is None else env, stream):
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        handler.setFormatter(logging.Formatter(STAMPED_FORMAT, datefmt=STAMP))
    redact = RedactFilter(secrets)
    handler.addFilter(redact)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redact


def journald_attached(env: Mapping[str, str], stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd names in ``$JOURNAL_STREAM``."""
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):
        return False
