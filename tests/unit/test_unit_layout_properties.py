"""Property tests: no input text can make a layout name unsafe or a path leave the root."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path, PurePosixPath

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncer.bibs import validate_bib
from syncer.errors import ConfigError
from syncer.layout import (
    DEFAULT_TEMPLATE,
    NameRules,
    PhotoContext,
    Template,
    bib_dirname,
    resolve_inside,
    sanitize_component,
)

RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789"}

rules_st = st.builds(
    NameRules, portable=st.booleans(), max_bytes=st.one_of(st.just(255), st.integers(1, 40))
)
# Plain text plus the characters most likely to break a name.
FRAGMENTS = [*'./\\ :*?"<>|\x00\x1f\x7f\x85\u0301\u00e9e', "CON", "..", "lpt1", ".txt"]
tricky_st = st.lists(st.one_of(st.characters(), st.sampled_from(FRAGMENTS))).map("".join)
text_st = st.one_of(st.text(), tricky_st)
TEMPLATES = [
    DEFAULT_TEMPLATE,
    "{event_id}/{event_slug}/{event_date}/{bib}/{image_id}.{ext}",
    "{event}-{bib}/{bib}{image_id}{filename}",
    "x{bib}./{bib}../{filename}",
]


def assert_safe(name: str, rules: NameRules) -> None:
    assert name not in {"", ".", ".."}
    assert "/" not in name
    assert "\\" not in name
    assert not any(unicodedata.category(char) in {"Cc", "Cs"} for char in name)
    assert len(name.encode()) <= rules.max_bytes
    assert name == name.strip()
    if rules.portable:
        assert not any(char in '<>:"|?*' for char in name)
        assert not name.endswith(".")
        assert name.split(".", 1)[0].rstrip(" ").upper() not in RESERVED


@given(text=text_st, rules=rules_st)
def test_sanitize_component_is_always_safe(text: str, rules: NameRules) -> None:
    assert_safe(sanitize_component(text, rules), rules)


@given(text=text_st, rules=rules_st)
@example(text="A\x1f\u0300", rules=NameRules(portable=False))  # composes once the control is gone
def test_sanitize_component_is_idempotent(text: str, rules: NameRules) -> None:
    once = sanitize_component(text, rules)
    assert sanitize_component(once, rules) == once


@given(text=text_st)
def test_nfd_and_nfc_spellings_sanitize_alike(text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert sanitize_component(nfc, NameRules()) == sanitize_component(nfd, NameRules())


contexts_st = st.builds(
    PhotoContext,
    event_id=st.integers(1, 10**9),
    event_slug=st.one_of(st.none(), text_st),
    event_date=st.one_of(st.none(), text_st, st.just("2026-01-19T06:00:00")),
    bib=st.one_of(st.none(), text_st),
    image_id=text_st,
    filename=st.one_of(st.none(), text_st),
)


@given(ctx=contexts_st, rules=rules_st, template=st.sampled_from(TEMPLATES))
def test_render_stays_relative_and_safe(ctx: PhotoContext, rules: NameRules, template: str) -> None:
    parsed = Template.parse(template)
    path = parsed.render(ctx, rules)
    assert not path.is_absolute()
    assert len(path.parts) == template.count("/") + 1
    for part in path.parts:
        assert_safe(part, rules)
    assert parsed.render(ctx, rules) == path  # deterministic


@settings(max_examples=50)
@given(ctx=contexts_st, template=st.sampled_from(TEMPLATES))
def test_rendered_paths_resolve_inside_the_root(ctx: PhotoContext, template: str) -> None:
    root = Path("/nonexistent-root-for-syncer-tests")
    rel = Template.parse(template).render(ctx, NameRules())
    target = resolve_inside(root, rel)
    assert target.parent != root.parent
    assert root in target.parents
    assert PurePosixPath(target.relative_to(root).as_posix()) == rel


# A BIB as the config hands it over: stripped, not empty (see syncer.bibs).
def _is_bib(text: str) -> bool:
    try:
        validate_bib(text, "a test")
    except ConfigError:
        return False
    return True


bibs_st = text_st.map(str.strip).filter(_is_bib)  # what syncer.bibs lets through
# Names of 20 bytes and more: room for a BIB's suffix (syncer always uses 255).
roomy_rules_st = st.builds(
    NameRules, portable=st.booleans(), max_bytes=st.one_of(st.just(255), st.integers(20, 60))
)


def bib_key(bib: str) -> str:
    """BIBs with the same key are one BIB (syncer.bibs keeps the first spelling)."""
    return unicodedata.normalize("NFC", bib).casefold()


@given(a=bibs_st, b=bibs_st, rules=roomy_rules_st)
@example(a="a/b", b="a_b", rules=NameRules())
@example(a="a/b", b="a\\b", rules=NameRules())
@example(a="..", b="_", rules=NameRules())
@example(a="_no_bib", b="x", rules=NameRules())
@example(a="x" * 64, b="x" * 63 + "y", rules=NameRules(max_bytes=20))
def test_bib_folder_names_are_safe_and_one_per_bib(a: str, b: str, rules: NameRules) -> None:
    """Never escapes (one safe component, not hidden), and two BIBs never share a folder,
    not even on a case-insensitive filesystem."""
    folder_a, folder_b = bib_dirname(a, rules), bib_dirname(b, rules)
    for folder in (folder_a, folder_b):
        assert_safe(folder, rules)
        assert not folder.startswith(".")
        assert folder.casefold() not in {"_no_bib", "_trash"}
    assert bib_dirname(a, rules) == folder_a  # the same on every run
    if bib_key(a) != bib_key(b):
        assert folder_a.casefold() != folder_b.casefold()


@given(a=bibs_st, b=bibs_st, ctx=contexts_st)
def test_default_layout_gives_each_bib_its_own_folder(a: str, b: str, ctx: PhotoContext) -> None:
    template = Template.parse(DEFAULT_TEMPLATE)
    path_a = template.render(replace(ctx, bib=a), NameRules())
    path_b = template.render(replace(ctx, bib=b), NameRules())
    root = Path("/nonexistent-root-for-syncer-tests")
    assert root in resolve_inside(root, path_a).parents
    assert path_a.parts[1] != "_no_bib"
    if bib_key(a) != bib_key(b):
        assert path_a.parts[1].casefold() != path_b.parts[1].casefold()
