"""BIB specs: ranges, padding, literals, case-insensitive dedupe, participants files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.bibs import MAX_RANGE, parse_bib_spec
from syncer.errors import ConfigError


def bibs(spec: str | list[str], base_dir: Path = Path("/nonexistent")) -> list[str]:
    return parse_bib_spec(spec, base_dir=base_dir)


def error(spec: str | list[str], base_dir: Path = Path("/nonexistent")) -> str:
    with pytest.raises(ConfigError) as info:
        parse_bib_spec(spec, base_dir=base_dir)
    assert "\n" not in info.value.message
    assert info.value.message.startswith("bibs: ")
    return info.value.message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1-3", ["1", "2", "3"]),
        ("9-11", ["9", "10", "11"]),
        ("7-7", ["7"]),
        ("0040-0042", ["0040", "0041", "0042"]),
        ("098-101", ["098", "099", "100", "101"]),
        ("0-2", ["0", "1", "2"]),
        ("A-17", ["A-17"]),
        ("0042", ["0042"]),
        ("1-2-3", ["1-2-3"]),
        ("-5", ["-5"]),
        ("A-17, 0042,Bx9", ["A-17", "0042", "Bx9"]),
        ("1 2\t3\n4", ["1", "2", "3", "4"]),
        (" , ,", []),
        ("", []),
    ],
)
def test_items(spec: str, expected: list[str]) -> None:
    assert bibs(spec) == expected


def test_dedupe_is_case_insensitive_and_keeps_the_first_spelling_and_order() -> None:
    assert bibs("a-17,5,A-17,3-6,bX9,BX9,ß") == ["a-17", "5", "3", "4", "6", "bX9", "ß"]
    assert bibs("ss,ß") == ["ss"]  # casefold: the API matches case-insensitively


def test_list_items_are_not_split() -> None:
    assert bibs([" Team 1 ", "2-3", "A-17"]) == ["Team 1", "2", "3", "A-17"]


def test_range_limits() -> None:
    assert len(bibs(f"1-{MAX_RANGE}")) == MAX_RANGE
    assert "more than 100,000" in error(f"1-{MAX_RANGE + 1}")


def test_reversed_range() -> None:
    assert error("1-5,500-1") == "bibs: bad range '500-1' in '1-5,500-1': start is after end"


@pytest.mark.parametrize(("item", "problem"), [("x" * 65, "longer than 64"), ("é" * 65, "64")])
def test_bad_bibs_are_named(item: str, problem: str) -> None:
    message = error([item])
    assert repr(item) in message
    assert problem in message


@pytest.mark.parametrize(
    "item", ["A/1", "..", ".", "../../etc", "a b", "50%", "x?y#z", "A\x07", "A\u200b", "C:\\x"]
)
def test_any_organiser_string_is_a_bib(item: str) -> None:
    """The API searches any string (the client encodes it) and the folder name is sanitised."""
    assert bibs([item]) == [item]


def test_sixty_four_characters_are_fine() -> None:
    assert bibs(["x" * 64]) == ["x" * 64]


def test_plain_file(tmp_path: Path) -> None:
    (tmp_path / "runners.txt").write_text(
        "# runners of the 10k\n\n  101 \nA-17  # Ana\n#102\n0042\na-17\nTeam 7\n"
    )
    assert bibs("@runners.txt,5", tmp_path) == ["101", "A-17", "0042", "Team 7", "5"]


@pytest.mark.parametrize(
    "text",
    [
        "Name,BIB,Age\nAna,0042,30\nBo,A-17,31\nCy,,32\nDi,0042,33\n",
        "\ufeffname;bib\nAna;0042\nBo;A-17\n",
        'name\tBib\n"Ana, M"\t0042\nBo\tA-17\n',
    ],
)
def test_csv_file_with_a_bib_column(tmp_path: Path, text: str) -> None:
    (tmp_path / "participants.csv").write_text(text, encoding="utf-8")
    assert bibs("@participants.csv", tmp_path) == ["0042", "A-17"]


def test_csv_detected_by_header_whatever_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "export.txt").write_text("first,last,bib\nA,B,7\nC,D,8\n")
    assert bibs(["@export.txt"], tmp_path) == ["7", "8"]


def test_single_column_csv(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("BIB\n1\n2\n")
    assert bibs("@p.csv", tmp_path) == ["1", "2"]


def test_file_relative_to_base_dir_or_absolute(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("1\n")
    assert bibs("@sub/a.txt", tmp_path) == ["1"]
    assert bibs(f"@{tmp_path / 'sub' / 'a.txt'}") == ["1"]


def test_csv_without_bib_column(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("name,number\nAna,1\n")
    assert "no 'bib' column" in error("@p.csv", tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    message = error("@participants.csv", tmp_path)
    assert message.startswith("bibs: cannot read @participants.csv: no such file")


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert error("@d", tmp_path).startswith("bibs: cannot read @d: is a directory")
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in error("@bin", tmp_path)


def test_bad_bib_in_a_file_names_the_line(tmp_path: Path) -> None:
    long = "9" * 65
    (tmp_path / "p.txt").write_text(f"1\n../../etc\nA/B\n{long}\n")
    assert error("@p.txt", tmp_path) == (
        f"bibs: bad BIB '{long}' in @p.txt line 4: longer than 64 characters"
    )
    (tmp_path / "p.txt").write_text("1\n../../etc\nA/B\n")
    assert bibs("@p.txt", tmp_path) == ["1", "../../etc", "A/B"]


def test_at_sign_alone() -> None:
    assert "file name" in error("@")


def test_a_bib_that_is_not_utf8_text_is_one_config_error(tmp_path: Path) -> None:
    """Bytes of another encoding on the command line arrive as lone surrogates."""
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        parse_bib_spec("12,\udcff", base_dir=tmp_path)
