"""BIB specs: which participants' photos to sort into per-BIB folders.

A spec is a string of items separated by commas or whitespace, or a list of items (a list item
is never split, so a BIB may contain a space there). Items:

* ``N-M`` with both sides all digits: the inclusive numeric range; ``0040-0042`` keeps the
  zero padding of the start (0040, 0041, 0042);
* ``@path``: a participants file, relative to ``base_dir``: plain lines (one BIB per line,
  ``#`` comments and blank lines ignored) or CSV with a ``bib`` column in its header;
* anything else (``A-17``, ``0042``, ``a/b``): one literal BIB; only empty ones and ones
  longer than 64 characters are refused.

The result keeps the first spelling of BIBs that differ only by case (the API matches BIBs
case-insensitively) or by Unicode composition (NFC), in the order given.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from syncer.errors import ConfigError

MAX_RANGE = 100_000
MAX_BIB_CHARS = 64
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_SEPARATORS = re.compile(r"[,\s]+")
_INLINE_COMMENT = re.compile(r"\s#")
_CSV_DELIMITERS = ",;\t"


def parse_bib_spec(spec: str | Sequence[str], *, base_dir: Path) -> list[str]:
    """Expand a BIB spec into a deduplicated list of BIBs; ConfigError on any bad item."""
    if isinstance(spec, str):
        items = [item for item in _SEPARATORS.split(spec) if item]
        where = f"'{spec.strip()}'"
    else:
        items = [item.strip() for item in spec if item.strip()]
        where = "the bibs list"
    return _dedupe(_expand(items, where, base_dir))


def validate_bib(bib: str, where: str) -> str:
    """Return ``bib`` stripped, or raise ConfigError if it cannot be a BIB."""
    text = bib.strip()
    problem = _bib_problem(text)
    if problem:
        raise ConfigError(f"bibs: bad BIB {text!r} in {where}: {problem}")
    return text


def _bib_problem(text: str) -> str | None:
    """Only what no search could use: any other string is the organiser's to choose.

    A BIB becomes one URL path segment (percent-encoded) and one folder name (sanitised, see
    :func:`syncer.layout.bib_dirname`), so ``/``, ``..`` or spaces in it are harmless.
    """
    if not text:
        return "empty"
    if len(text) > MAX_BIB_CHARS:
        return f"longer than {MAX_BIB_CHARS} characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # e.g. bytes of another encoding on the command line
        return "not UTF-8 text"
    return None


def _expand(items: Iterable[str], where: str, base_dir: Path) -> Iterator[str]:
    for item in items:
        if item.startswith("@"):
            yield from read_bib_file(item[1:], base_dir=base_dir)
            continue
        match = _RANGE.fullmatch(item)
        if match:
            yield from _range(match.group(1), match.group(2), where)
        else:
            yield validate_bib(item, where)


def _range(start: str, end: str, where: str) -> Iterator[str]:
    first, last = int(start), int(end)
    if first > last:
        raise ConfigError(f"bibs: bad range '{start}-{end}' in {where}: start is after end")
    if last - first + 1 > MAX_RANGE:
        raise ConfigError(
            f"bibs: bad range '{start}-{end}' in {where}: more than {MAX_RANGE:,} BIBs"
        )
    width = len(start) if len(start) > 1 and start.startswith("0") else 0
    for number in range(first, last + 1):
        yield str(number).zfill(width)


def read_bib_file(name: str, *, base_dir: Path) -> list[str]:
    """The BIBs listed in a participants file (``name`` relative to ``base_dir``)."""
    if not name.strip():
        raise ConfigError("bibs: '@' must be followed by a file name")
    path = base_dir / name.strip()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"bibs: cannot read @{name}: no such file ({path})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"bibs: cannot read @{name}: not UTF-8 text ({path})") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(f"bibs: cannot read @{name}: {reason.lower()} ({path})") from None
    lines = text.splitlines()
    header = _csv_header(lines, path)
    if header is not None:
        return _csv_bibs(text, header, name)
    return _plain_bibs(lines, name)


def _csv_header(lines: list[str], path: Path) -> tuple[str, int] | None:
    """``(delimiter, bib column index)`` when the file is CSV with a ``bib`` column."""
    first = next((line for line in lines if line.strip()), "")
    for delimiter in _CSV_DELIMITERS:
        cells = [cell.strip().lower() for cell in next(csv.reader([first], delimiter=delimiter))]
        if len(cells) > 1 and "bib" in cells:
            return delimiter, cells.index("bib")
    if path.suffix.lower() == ".csv":
        if first.strip().lower() == "bib":
            return ",", 0
        raise ConfigError(f"bibs: {path.name} has no 'bib' column in its header line")
    return None


def _csv_bibs(text: str, header: tuple[str, int], name: str) -> list[str]:
    delimiter, column = header
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    bibs: list[str] = []
    try:
        for number, row in enumerate(rows, start=1):
            if number == 1 or len(row) <= column or not row[column].strip():
                continue
            bibs.append(validate_bib(row[column], f"@{name} line {number}"))
    except csv.Error as exc:
        raise ConfigError(f"bibs: cannot read @{name}: bad CSV ({exc})") from None
    return bibs


def _plain_bibs(lines: list[str], name: str) -> list[str]:
    bibs: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = _INLINE_COMMENT.split(line, maxsplit=1)[0].strip()
        if text and not text.startswith("#"):
            bibs.append(validate_bib(text, f"@{name} line {number}"))
    return bibs


def _dedupe(bibs: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique: list[str] = []
    for bib in bibs:
        key = (bib if bib.isascii() else unicodedata.normalize("NFC", bib)).casefold()
        if key not in seen:
            seen.add(key)
            unique.append(bib)
    return unique
