"""Where a photo goes: (event, BIB, image) -> a safe path relative to the storage root.

Pure functions except :func:`resolve_inside`, which looks at the filesystem to refuse symlinks.
Every component is sanitised on its own, so a value coming from the API (slug, file name,
image id) or from the user (BIB) can never add a folder level, climb out of the root, or
produce a name Windows/SMB shares refuse (with ``NameRules(portable=True)``).
"""

from __future__ import annotations

import hashlib
import re
import stat
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from syncer.errors import ConfigError, StorageError

DEFAULT_TEMPLATE = "{event}/{bib}/{filename}"
DEFAULT_PEOPLE_TEMPLATE = "{event}/_people/{person}/{filename}"
NO_SLUG = "_no_slug"
NO_DATE = "_no_date"
NO_BIB = "_no_bib"
DEFAULT_EXT = "jpg"

_PORTABLE_FORBIDDEN = '<>:"|?*'
_POSIX_TABLE = str.maketrans(dict.fromkeys("/\\", "_"))
_PORTABLE_TABLE = str.maketrans(dict.fromkeys("/\\" + _PORTABLE_FORBIDDEN, "_"))
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"]
)
_EXT = re.compile(r"[A-Za-z0-9]{1,10}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_KEPT_EXT_SHARE = 2  # keep an extension when truncating only if it fits in half the budget


@dataclass(frozen=True)
class NameRules:
    """How names are made safe: ``portable`` adds the Windows/SMB rules."""

    portable: bool = True
    max_bytes: int = 255

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ConfigError(f"layout: max_bytes must be >= 1, got {self.max_bytes}")


@dataclass(frozen=True)
class PhotoContext:
    """What is known about one placement of a photo."""

    event_id: int
    event_slug: str | None
    event_date: str | None
    bib: str | None
    image_id: str
    filename: str | None  # the file name suggested by the API, e.g. "<image_id>.jpg"
    person: str | None = None  # a people placement: the person's name


# -- sanitising ---------------------------------------------------------------------------------


def sanitize_component(text: str, rules: NameRules) -> str:
    """One safe, non-empty path component (never ".", ".." or containing a separator)."""
    name = _fit(_clean(text, rules), rules)
    if rules.portable and _is_reserved(name):
        name = _fit("_" + name, rules)
    return name


def _clean(text: str, rules: NameRules) -> str:
    """Drop control characters, compose (NFC), replace separators and forbidden characters."""
    if text.isascii() and text.isprintable():  # most names: nothing to drop or compose
        table = _PORTABLE_TABLE if rules.portable else _POSIX_TABLE
        return _trim(text.translate(table), rules)
    return _clean_unicode(text, rules)


def _clean_unicode(text: str, rules: NameRules) -> str:
    text = "".join(char for char in text if unicodedata.category(char) != "Cc")
    text = unicodedata.normalize("NFC", text)
    forbidden = "/\\" + (_PORTABLE_FORBIDDEN if rules.portable else "")
    text = "".join(
        "_" if char in forbidden or unicodedata.category(char) == "Cs" else char for char in text
    )
    return _trim(text, rules)


def _trim(text: str, rules: NameRules) -> str:
    """Strip surrounding whitespace (and, portably, trailing dots); "", "." and ".." -> "_"."""
    while True:
        trimmed = text.strip()
        if rules.portable:
            trimmed = trimmed.rstrip(".")
        if trimmed == text:
            break
        text = trimmed
    return "_" if text in {"", ".", ".."} else text


def _is_reserved(name: str) -> bool:
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.upper() in _RESERVED


def _fit(name: str, rules: NameRules) -> str:
    """Truncate to ``rules.max_bytes`` UTF-8 bytes, keeping a short extension."""
    if len(name.encode()) <= rules.max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = dot + ext
    if not stem or len(suffix.encode()) * _MAX_KEPT_EXT_SHARE > rules.max_bytes:
        stem, suffix = name, ""
    budget = rules.max_bytes - len(suffix.encode())
    cut = stem.encode()[:budget].decode(errors="ignore")
    cut = _trim(cut, rules) if cut.strip() else "_"
    return (cut + suffix) if len((cut + suffix).encode()) <= rules.max_bytes else cut


# -- names derived from API values --------------------------------------------------------------


def event_dirname(event_id: int, slug: str | None, rules: NameRules) -> str:
    """``"456-mumbai-marathon-2026"``, or ``"456"`` without a slug."""
    if slug is None or not slug.strip():
        return sanitize_component(str(event_id), rules)
    return sanitize_component(f"{event_id}-{slug.strip()}", rules)


def extension_of(filename: str | None) -> str:
    """The extension of an API file name when it looks like one, else ``"jpg"``."""
    if filename:
        stem, dot, ext = filename.rpartition(".")
        if dot and stem and _EXT.fullmatch(ext):
            return ext
    return DEFAULT_EXT


def photo_filename(image_id: str, filename: str | None) -> str:
    """``"<image_id>.<ext>"``: the API's name when it has that form, and never another one.

    The server's name is only a suggestion; its extension is kept when it looks like one, so
    ``{filename}`` always equals ``{image_id}.{ext}``.
    """
    return f"{image_id}.{extension_of(filename)}"


def date_part(event_date: str | None) -> str:
    """``"2026-01-19"`` from ``"2026-01-19T06:00:00"``; ``"_no_date"`` when absent or odd."""
    if event_date and _DATE.match(event_date.strip()):
        return event_date.strip()[:10]
    return NO_DATE


BIB_SUFFIX_HEX = 8
_BIB_SUFFIX = re.compile(rf"~[0-9a-fA-F]{{{BIB_SUFFIX_HEX}}}")
_MIN_BIB_BUDGET = 2 * (BIB_SUFFIX_HEX + 2)
_OWN_FOLDERS = frozenset({NO_BIB, "_trash"})  # "_trash": syncer.root.TRASH_DIRNAME


def bib_dirname(bib: str, rules: NameRules, *, budget: int | None = None) -> str:
    """The folder name of a BIB: one safe component, different for every BIB.

    A BIB that is a safe name already (in NFC) is its own folder name (``A-17``). Any other
    one becomes its sanitised form (with ``_`` in front if that starts with a dot) plus ``~``
    and the first 8 hex digits of the SHA-256 of the BIB's UTF-8 bytes: one the sanitiser
    changes (``a/b`` -> ``a_b~c14cddc0``, ``../../etc`` -> ``_.._.._etc~74ccf3c5``, ``CON``, a
    trailing dot, a name too long), a hidden name (``.x``), one that already ends like a
    suffix (``x~0123abcd``), and ``_no_bib`` or ``_trash``. So ``a/b``, ``a_b`` and ``a\\b``
    never share a folder, and a name is the same on every run. ``budget`` (default
    ``rules.max_bytes``, never below 20) bounds its bytes; below 20 bytes, names may clash.
    """
    wanted = rules.max_bytes if budget is None else budget
    limit = min(rules.max_bytes, max(_MIN_BIB_BUDGET, wanted))
    name = sanitize_component(bib, NameRules(rules.portable, limit))
    if name == _composed(bib) and not _needs_suffix(name):
        return name
    # surrogatepass: a lone surrogate (never a valid BIB or name) still hashes, not crashes
    suffix = "~" + hashlib.sha256(bib.encode("utf-8", "surrogatepass")).hexdigest()[:BIB_SUFFIX_HEX]
    base = sanitize_component(bib, NameRules(rules.portable, max(1, limit - len(suffix) - 1)))
    return ("_" if base.startswith(".") else "") + base + suffix


def _composed(text: str) -> str:
    """NFC: a BIB typed with combining accents names the same folder as its composed form."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _needs_suffix(name: str) -> bool:
    """Names a plain BIB must not take: hidden, a suffixed name's form, a folder of ours."""
    return (
        name.startswith(".")
        or bool(_BIB_SUFFIX.search(name[-BIB_SUFFIX_HEX - 1 :]))
        or name.casefold() in _OWN_FOLDERS
    )


def _has(value: str | None) -> bool:
    return value is not None and bool(value.strip())


def _or(value: str | None, missing: str) -> str:
    return value if value is not None and value.strip() else missing


def _placeholder_values(rules: NameRules) -> Mapping[str, Callable[[PhotoContext], str]]:
    return {
        "event": lambda ctx: event_dirname(ctx.event_id, ctx.event_slug, rules),
        "event_id": lambda ctx: str(ctx.event_id),
        "event_slug": lambda ctx: _or(ctx.event_slug, NO_SLUG),
        "event_date": lambda ctx: date_part(ctx.event_date),
        "bib": lambda ctx: bib_dirname(ctx.bib, rules) if _has(ctx.bib) else NO_BIB,
        "image_id": lambda ctx: ctx.image_id,
        "filename": lambda ctx: photo_filename(ctx.image_id, ctx.filename),
        "ext": lambda ctx: extension_of(ctx.filename),
        "person": lambda ctx: bib_dirname(ctx.person, rules) if _has(ctx.person) else "_",
    }


PEOPLE_PLACEHOLDERS = frozenset(_placeholder_values(NameRules()))
PLACEHOLDERS = PEOPLE_PLACEHOLDERS - {"person"}  # {person} only in storage.people_layout
_UNIQUE_PLACEHOLDERS = frozenset({"filename", "image_id"})


# -- templates ----------------------------------------------------------------------------------

_Part = tuple[str, str | None]  # (literal text, placeholder name or None)


@dataclass(frozen=True)
class Template:
    """A parsed layout template such as ``"{event}/{bib}/{filename}"``."""

    text: str
    components: tuple[tuple[_Part, ...], ...]

    @classmethod
    def parse(cls, text: str, *, people: bool = False) -> Template:
        """Check and parse a template; ConfigError naming the problem.

        ``people``: the template of people folders, which must contain ``{person}``.
        """
        problem = _template_problem(text)
        if problem:
            raise ConfigError(f"layout template {text!r}: {problem}")
        known = PEOPLE_PLACEHOLDERS if people else PLACEHOLDERS
        components = tuple(_parse_component(part, text, known) for part in text.split("/"))
        if people and not any(name == "person" for comp in components for _, name in comp):
            raise ConfigError(
                f"layout template {text!r}: a people layout must contain {{person}}, "
                "otherwise everybody's photos would share one folder"
            )
        last = {name for _, name in components[-1] if name}
        if not last & _UNIQUE_PLACEHOLDERS:
            raise ConfigError(
                f"layout template {text!r}: the last component must contain {{filename}} or "
                "{image_id}, otherwise photos would overwrite each other"
            )
        return cls(text=text, components=components)

    @property
    def uses_bib(self) -> bool:
        """True when photos are placed per BIB (the template has ``{bib}``)."""
        return any(name == "bib" for component in self.components for _, name in component)

    def render(self, ctx: PhotoContext, rules: NameRules) -> PurePosixPath:
        """The relative path of this placement; every component sanitised."""
        values = _placeholder_values(rules)
        return PurePosixPath(
            *(_render_component(comp, ctx, rules, values) for comp in self.components)
        )


def _render_component(
    comp: tuple[_Part, ...],
    ctx: PhotoContext,
    rules: NameRules,
    values: Mapping[str, Callable[[PhotoContext], str]],
) -> str:
    """One sanitised component; a BIB's folder name is fitted beside the rest, suffix kept."""
    if all(name != "bib" for _, name in comp):
        return sanitize_component(
            "".join(literal + (values[name](ctx) if name else "") for literal, name in comp), rules
        )
    rest = "".join(
        literal + (values[name](ctx) if name not in {None, "bib"} else "") for literal, name in comp
    )
    budget = rules.max_bytes - len(rest.encode())
    folder = bib_dirname(ctx.bib, rules, budget=budget) if ctx.bib and _has(ctx.bib) else NO_BIB
    return sanitize_component(
        "".join(
            literal + (folder if name == "bib" else values[name](ctx) if name else "")
            for literal, name in comp
        ),
        rules,
    )


def _template_problem(text: str) -> str | None:
    if not text.strip():
        return "empty"
    if text.startswith("/") or re.match(r"[A-Za-z]:", text):
        return "must be a relative path"
    if "\\" in text:
        return "use '/' to separate folders"
    if any(unicodedata.category(char) == "Cc" for char in text):
        return "contains control characters"
    for component in text.split("/"):
        if not component.strip():
            return "has an empty folder name ('//' or a '/' at the end)"
        if component.strip() in {".", ".."}:
            return f"'{component.strip()}' is not allowed as a folder name"
    return None


def _parse_component(component: str, text: str, known: frozenset[str]) -> tuple[_Part, ...]:
    try:
        fields = list(string.Formatter().parse(component))
    except ValueError as exc:
        raise ConfigError(f"layout template {text!r}: bad braces ({exc})") from None
    parts: list[_Part] = []
    for literal, name, spec, conversion in fields:
        if name is not None and (spec or conversion or name not in known):
            shown = component[component.find("{" + name) :].split("}", 1)[0] + "}"
            listed = ", ".join("{" + p + "}" for p in sorted(known))
            raise ConfigError(
                f"layout template {text!r}: unknown placeholder {shown} (known: {listed})"
            )
        parts.append((literal, name))
    return tuple(parts)


# -- the one filesystem check -------------------------------------------------------------------


def resolve_inside(root: Path, rel: PurePosixPath) -> Path:
    """``root / rel``, refusing paths that escape the root or pass through a symlink under it."""
    if rel.is_absolute() or not rel.parts or rel.parts == (".",):
        raise StorageError(f"refusing path {str(rel)!r}: not a path inside {root}")
    if ".." in rel.parts or any(part in {"", "."} for part in rel.parts):
        raise StorageError(f"refusing path {str(rel)!r}: it climbs out of {root}")
    current = root
    for part in rel.parts:
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            break
        except OSError as exc:
            raise StorageError(f"cannot check {current}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(info.st_mode):
            raise StorageError(
                f"refusing path {str(rel)!r}: {current} is a symbolic link inside the root"
            )
    return root.joinpath(*rel.parts)
