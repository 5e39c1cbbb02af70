"""Layout: templates, placeholders, sanitising rules and the symlink-refusing resolver."""

from __future__ import annotations

import os
from hashlib import sha256
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer import layout
from syncer.errors import ConfigError, StorageError
from syncer.layout import (
    DEFAULT_TEMPLATE,
    NameRules,
    PhotoContext,
    Template,
    bib_dirname,
    event_dirname,
    resolve_inside,
    sanitize_component,
)

PORTABLE = NameRules()
POSIX = NameRules(portable=False)
IMAGE = "a4402318-0cf4-4e1e-b8e8-ac8e8f2fc244"


def ctx(**changes: object) -> PhotoContext:
    values: dict[str, object] = {
        "event_id": 456,
        "event_slug": "mumbai-marathon-2026",
        "event_date": "2026-01-19T06:00:00",
        "bib": "A-17",
        "image_id": IMAGE,
        "filename": f"{IMAGE}.jpg",
    }
    values.update(changes)
    return PhotoContext(**values)  # type: ignore[arg-type]


def render(template: str, rules: NameRules = PORTABLE, **changes: object) -> str:
    return str(Template.parse(template).render(ctx(**changes), rules))


# -- templates ------------------------------------------------------------------------------------


def test_default_template() -> None:
    assert render(DEFAULT_TEMPLATE) == f"456-mumbai-marathon-2026/A-17/{IMAGE}.jpg"
    assert Template.parse(DEFAULT_TEMPLATE).uses_bib
    assert Template.parse(DEFAULT_TEMPLATE).text == DEFAULT_TEMPLATE


def test_every_placeholder() -> None:
    template = "{event_id}_{event_slug}/{event_date}/{bib}/{image_id}.{ext}"
    assert render(template) == f"456_mumbai-marathon-2026/2026-01-19/A-17/{IMAGE}.jpg"
    assert not Template.parse("{event}/{filename}").uses_bib


def test_missing_values_have_placeholders_of_their_own() -> None:
    path = render(
        "{event}/{event_slug}/{event_date}/{bib}/{filename}",
        event_slug=None,
        event_date=None,
        bib=None,
        filename=None,
    )
    assert path == f"456/_no_slug/_no_date/_no_bib/{IMAGE}.jpg"
    assert render("{event_date}/{image_id}", event_date="soon") == f"_no_date/{IMAGE}"
    assert render("{bib}/{image_id}", bib="  ") == f"_no_bib/{IMAGE}"


@pytest.mark.parametrize(
    ("filename", "expected_name", "expected_ext"),
    [
        (f"{IMAGE}.jpg", f"{IMAGE}.jpg", "jpg"),
        (f"{IMAGE}.HEIC", f"{IMAGE}.HEIC", "HEIC"),
        ("other.jpg", f"{IMAGE}.jpg", "jpg"),
        ("../../etc/passwd", f"{IMAGE}.jpg", "jpg"),
        (f"{IMAGE}.png", f"{IMAGE}.png", "png"),
        ("evil.png", f"{IMAGE}.png", "png"),
        (f"{IMAGE}", f"{IMAGE}.jpg", "jpg"),
        (f"{IMAGE}.j/pg", f"{IMAGE}.jpg", "jpg"),
        (None, f"{IMAGE}.jpg", "jpg"),
    ],
)
def test_filename_is_never_trusted(
    filename: str | None, expected_name: str, expected_ext: str
) -> None:
    assert render("{filename}", filename=filename) == expected_name
    assert render("{image_id}.{ext}", filename=filename) == f"{IMAGE}.{expected_ext}"


def test_values_cannot_add_folder_levels_or_climb_out() -> None:
    path = Template.parse(DEFAULT_TEMPLATE).render(
        ctx(event_slug="../../x", bib="../..", image_id="a/b", filename=None), PORTABLE
    )
    assert path.parts == ("456-.._.._x", f"_.._~{sha256(b'../..').hexdigest()[:8]}", "a_b.jpg")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/abs/{filename}", "relative"),
        ("C:/x/{filename}", "relative"),
        ("{event}\\{filename}", "'/'"),
        ("{event}//{filename}", "empty folder"),
        ("{event}/{filename}/", "empty folder"),
        ("{event}/../{filename}", "'..'"),
        ("./{filename}", "'.'"),
        ("{event}/{nope}/{filename}", "unknown placeholder {nope}"),
        ("{event}/{}/{filename}", "unknown placeholder"),
        ("{event!r}/{filename}", "unknown placeholder"),
        ("{bib:>5}/{filename}", "unknown placeholder"),
        ("{event/{filename}", "bad braces"),
        ("{event}}/{filename}", "bad braces"),
        ("{event}/{bib}", "{filename} or {image_id}"),
        ("{filename}/{bib}", "{filename} or {image_id}"),
        ("{event}\x00/{filename}", "control"),
    ],
)
def test_bad_templates(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Template.parse(text)
    assert problem in info.value.message
    assert info.value.message.startswith(f"layout template {text!r}: ")


def test_literal_braces_are_allowed() -> None:
    assert render("{{x}}/{image_id}") == f"{{x}}/{IMAGE}"


# -- sanitising -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "portable", "posix"),
    [
        ("plain.jpg", "plain.jpg", "plain.jpg"),
        ('a<b>c:d"e|f?g*h', "a_b_c_d_e_f_g_h", 'a<b>c:d"e|f?g*h'),
        ("a/b\\c", "a_b_c", "a_b_c"),
        ("a\x00b\x1fc\x7fd\x85e", "abcde", "abcde"),
        ("  name.  ", "name", "name."),
        ("name. . .", "name", "name. . ."),
        (".", "_", "_"),
        ("..", "_", "_"),
        ("...", "_", "..."),
        ("", "_", "_"),
        ("\x00", "_", "_"),
        ("CON", "_CON", "CON"),
        ("con.txt", "_con.txt", "con.txt"),
        ("Lpt9.tar.gz", "_Lpt9.tar.gz", "Lpt9.tar.gz"),
        ("COM\u00b9", "_COM\u00b9", "COM\u00b9"),
        ("CONSOLE", "CONSOLE", "CONSOLE"),
        ("-rf", "-rf", "-rf"),
        (".hidden", ".hidden", ".hidden"),
    ],
)
def test_sanitize_examples(text: str, portable: str, posix: str) -> None:
    assert sanitize_component(text, PORTABLE) == portable
    assert sanitize_component(text, POSIX) == posix


def test_truncation_keeps_the_extension_and_whole_characters() -> None:
    rules = NameRules(max_bytes=20)
    name = sanitize_component("é" * 30 + ".jpeg", rules)
    assert name == "é" * 7 + ".jpeg"
    assert len(name.encode()) <= 20
    assert sanitize_component("x" * 300, PORTABLE) == "x" * 255
    long_ext = sanitize_component("a." + "b" * 30, rules)
    assert len(long_ext.encode()) <= 20
    assert long_ext.startswith("a.b")


def test_truncation_does_not_leave_a_trailing_dot_or_space() -> None:
    rules = NameRules(max_bytes=10)
    assert sanitize_component("abcd. ....xyz.jpg", rules) == "abcd.jpg"


def test_nfc_and_nfd_spellings_render_identically() -> None:
    nfc, nfd = "Jos\u00e9", "Jose\u0301"
    assert nfc != nfd
    assert sanitize_component(nfc, PORTABLE) == sanitize_component(nfd, PORTABLE) == nfc
    assert render(DEFAULT_TEMPLATE, bib=nfd, event_slug=nfd) == render(
        DEFAULT_TEMPLATE, bib=nfc, event_slug=nfc
    )


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("mumbai-marathon-2026", "456-mumbai-marathon-2026"),
        (None, "456"),
        ("  ", "456"),
        ("a/b", "456-a_b"),
        ("x.", "456-x"),
    ],
)
def test_event_dirname(slug: str | None, expected: str) -> None:
    assert event_dirname(456, slug, PORTABLE) == expected


def test_name_rules_need_a_positive_budget() -> None:
    with pytest.raises(ConfigError):
        NameRules(max_bytes=0)


# -- resolve_inside -------------------------------------------------------------------------------


def test_resolve_inside_plain_path(tmp_path: Path) -> None:
    (tmp_path / "456").mkdir()
    assert resolve_inside(tmp_path, PurePosixPath("456/A-17/x.jpg")) == tmp_path / "456/A-17/x.jpg"


@pytest.mark.parametrize("rel", ["", ".", "..", "../x.jpg", "a/../../x.jpg", "/etc/passwd"])
def test_resolve_inside_refuses_escapes(tmp_path: Path, rel: str) -> None:
    with pytest.raises(StorageError, match="refusing path"):
        resolve_inside(tmp_path, PurePosixPath(rel))


def test_resolve_inside_refuses_a_symlinked_folder(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "456").mkdir()
    os.symlink(outside, root / "456" / "A-17")
    with pytest.raises(StorageError, match="symbolic link") as info:
        resolve_inside(root, PurePosixPath("456/A-17/x.jpg"))
    assert str(root / "456" / "A-17") in info.value.message
    assert info.value.exit_code == 74


def test_resolve_inside_refuses_a_symlinked_file_and_a_dangling_link(tmp_path: Path) -> None:
    os.symlink(tmp_path / "elsewhere.jpg", tmp_path / "x.jpg")
    with pytest.raises(StorageError, match="symbolic link"):
        resolve_inside(tmp_path, PurePosixPath("x.jpg"))


def test_a_symlinked_root_itself_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "nas"
    real.mkdir()
    os.symlink(real, tmp_path / "root")
    path = resolve_inside(tmp_path / "root", PurePosixPath("456/x.jpg"))
    assert path == tmp_path / "root" / "456" / "x.jpg"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=40))
def test_the_ascii_fast_path_cleans_exactly_like_the_general_one(text: str) -> None:
    for rules in (PORTABLE, POSIX):
        assert layout._clean(text, rules) == layout._clean_unicode(text, rules)


def suffix(bib: str) -> str:
    return "~" + sha256(bib.encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("bib", "folder"),
    [
        ("A-17", "A-17"),
        ("0042", "0042"),
        ("Team 7", "Team 7"),
        ("50%", "50%"),
        ("a_b", "a_b"),
        ("Jose\u0301", "Jos\u00e9"),
        ("a/b", "a_b" + suffix("a/b")),
        ("a\\b", "a_b" + suffix("a\\b")),
        ("a?b", "a_b" + suffix("a?b")),
        ("../../etc", "_.._.._etc" + suffix("../../etc")),
        ("..", "_" + suffix("..")),
        (".hidden", "_.hidden" + suffix(".hidden")),
        ("CON", "_CON" + suffix("CON")),
        ("A.", "A" + suffix("A.")),
        ("_no_bib", "_no_bib" + suffix("_no_bib")),
        ("_Trash", "_Trash" + suffix("_Trash")),
        ("x~0123abcd", "x~0123abcd" + suffix("x~0123abcd")),
    ],
)
def test_bib_folder_names_follow_the_documented_mapping(bib: str, folder: str) -> None:
    assert bib_dirname(bib, PORTABLE) == folder
    assert render(DEFAULT_TEMPLATE, bib=bib).split("/")[1] == folder


def test_bibs_that_sanitise_alike_get_their_own_folders() -> None:
    folders = {bib_dirname(b, PORTABLE) for b in ["a/b", "a_b", "a\\b", "a?b", "a:b", "a*b"]}
    assert len(folders) == 6


def test_a_long_bib_keeps_its_suffix_beside_template_text() -> None:
    bib = "\U0001f600" * 63 + "/"  # 253 bytes: too long beside the rest of the name
    path = render("{event}/runner {bib} photos/{filename}", bib=bib)
    folder = path.split("/")[1]
    assert folder.startswith("runner \U0001f600")
    assert folder.endswith(suffix(bib) + " photos")
    assert len(folder.encode()) <= 255
