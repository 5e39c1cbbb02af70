"""Property tests: no input text can make a layout name unsafe or a path leave the root."""

from __future__ import annotations

import unicodedata
from pathlib import Path, PurePosixPath

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syncer.layout import (
    DEFAULT_TEMPLATE,
    NameRules,
    PhotoContext,
    Template,
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
