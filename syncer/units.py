"""Durations and sizes as people write them in settings (``"1h30m"``, ``"2GiB"``) and sizes as
syncer writes them for people (:func:`format_size`, decimal units: 1 MB = 10^6 bytes).

Both parsers take the raw value (a number or a string) and raise :class:`ValueError` with a
one-line message naming the bad input, also for a wrong type (pydantic validators report a
ValueError as a validation error, a TypeError would escape); the settings layer turns that into
a ConfigError.
"""

from __future__ import annotations

import math
import re

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")

_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DECIMAL_PREFIXES = ("k", "M", "G", "T", "P")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)

DURATION_HELP = "a number of seconds or e.g. '90s', '15m', '1h30m', '2d'"
SIZE_HELP = "a number of bytes or e.g. '500MB', '2GiB'"


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``1.5``, ``"90"``, ``"90s"``, ``"15m"``, ``"1h30m"`` or ``"2d"``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"bad duration {value!r}: expected {DURATION_HELP}")  # noqa: TRY004
    seconds = _duration_from_text(value) if isinstance(value, str) else float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"bad duration {value!r}: must be a finite number >= 0")
    return seconds


def _duration_from_text(text: str) -> float:
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise ValueError(f"bad duration {text!r}: expected {DURATION_HELP}")
    return total


def parse_size(value: object) -> int:
    """Bytes from ``1048576``, ``"500MB"`` (powers of 1000) or ``"2GiB"`` (powers of 1024)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"bad size {value!r}: expected {SIZE_HELP}")  # noqa: TRY004
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        factor = _SIZE_UNITS.get(match.group(2).lower() or "b") if match else None
        if match is None or factor is None:
            raise ValueError(f"bad size {value!r}: expected {SIZE_HELP}")
        amount = float(match.group(1)) * factor
    else:
        amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"bad size {value!r}: must be a finite number >= 0")
    return round(amount)


def format_size(count: int) -> str:
    """``count`` bytes in decimal units, as every summary, status and progress line shows them:
    ``"512 B"``, ``"1.5 kB"``, ``"2.1 GB"`` (1 kB = 1000 B, 1 MB = 10^6 B)."""
    if count < 1000:
        return f"{count} B"
    value = count / 1000
    for prefix in _DECIMAL_PREFIXES[:-1]:
        if value < 999.95:  # would round to "1000.0": the next unit reads better
            return f"{value:.1f} {prefix}B"
        value /= 1000
    return f"{value:.1f} {_DECIMAL_PREFIXES[-1]}B"
