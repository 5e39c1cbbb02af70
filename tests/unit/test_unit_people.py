"""People: selfie checks, the {person} placeholder, people settings and clip names."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncer.api import ClipJob
from syncer.clips import clips_of
from syncer.config import load_settings
from syncer.errors import ConfigError
from syncer.layout import (
    DEFAULT_PEOPLE_TEMPLATE,
    NameRules,
    PhotoContext,
    Template,
    bib_dirname,
)
from syncer.selfies import image_type, read_person, unique_people
from syncer.sim.mp4 import render_clip
from syncer.sim.selfie import selfie_jpeg

HEADS = {
    b"\xff\xd8\xff\xe0": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF89a": "image/gif",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ": "image/webp",
    b"\x00\x00\x00\x18ftypheic": "image/heic",
    render_clip("x", 100, 1)[:12]: None,  # an MP4 is no selfie
    b"<html>": None,
}


@pytest.mark.parametrize(("head", "kind"), HEADS.items())
def test_image_type_by_signature(head: bytes, kind: str | None) -> None:
    assert image_type(head) == kind


def test_read_person_names_by_stem_and_hashes(tmp_path: Path) -> None:
    selfie = tmp_path / "Maria Lopez.jpg"
    selfie.write_bytes(selfie_jpeg(["17"]))
    person = read_person(None, selfie, clips=True, max_bytes=100_000, where="--selfie")
    assert (person.name, person.content_type, person.clips) == ("Maria Lopez", "image/jpeg", True)
    assert len(person.sha256) == 64
    assert "data" not in repr(person)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"plain text", "is not an image"),
        (b"\xff\xd8\xff" + bytes(200), r"more than people\.max_selfie_size \(100\)"),
    ],
)
def test_bad_selfies_are_config_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    selfie = tmp_path / "me.jpg"
    if content is not None:
        selfie.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        read_person("me", selfie, clips=False, max_bytes=100, where="--selfie")
    assert caught.value.exit_code == 78


def test_a_folder_is_no_selfie(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        read_person("me", tmp_path, clips=False, max_bytes=100, where="--selfie")


def test_two_people_with_one_name_are_refused(tmp_path: Path) -> None:
    selfie = tmp_path / "a.jpg"
    selfie.write_bytes(selfie_jpeg())
    people = [
        read_person(name, selfie, clips=False, max_bytes=100_000, where="x")
        for name in ("Al", "al")
    ]
    with pytest.raises(ConfigError, match="named twice"):
        unique_people(people)


def _ctx(person: str) -> PhotoContext:
    return PhotoContext(456, "run", None, None, "img-1", None, person=person)


@pytest.mark.parametrize("person", ["Asha", "a/b", "../../etc", "CON", "_no_bib"])
def test_person_folders_are_sanitised_like_bib_folders(person: str) -> None:
    template = Template.parse(DEFAULT_PEOPLE_TEMPLATE, people=True)
    rel = template.render(_ctx(person), NameRules())
    assert rel.parts == ("456-run", "_people", bib_dirname(person, NameRules()), "img-1.jpg")


def test_person_placeholder_only_in_the_people_layout() -> None:
    with pytest.raises(ConfigError, match="unknown placeholder"):
        Template.parse("{event}/{person}/{filename}")
    with pytest.raises(ConfigError, match="must contain"):
        Template.parse("{event}/people/{filename}", people=True)


def test_people_settings_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "syncer.toml"
    config.write_text(
        '[storage]\npeople_layout = "{event}/{person}/{filename}"\n'
        '[people]\nclip_deadline = "2m"\nselfie_field = "image"\n'
        "[[events]]\nid = 456\n"
        '[[events.people]]\nname = " Asha "\nselfie = "asha.jpg"\nclips = true\n',
        encoding="utf-8",
    )
    settings = load_settings(config_path=config, env={}, cwd=tmp_path)
    assert settings.people.clip_deadline == 120.0
    assert settings.people.selfie_field == "image"
    assert settings.storage.people_template.text == "{event}/{person}/{filename}"
    [asha] = settings.people_for(456)
    assert (asha.name, asha.clips) == ("Asha", True)
    assert settings.people_for(789) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[storage]\npeople_layout = "{event}/{filename}"\n', "must contain"),
        (
            '[[events]]\nid = 1\n[[events.people]]\nname = "A"\nselfie = "a"\n'
            '[[events.people]]\nname = "a"\nselfie = "b"\n',
            "listed twice",
        ),
        ('[[events]]\nid = 1\n[[events.people]]\nname = " "\nselfie = "a"\n', "blank"),
    ],
)
def test_bad_people_settings_are_one_line(tmp_path: Path, extra: str, message: str) -> None:
    config = tmp_path / "syncer.toml"
    config.write_text(extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config_path=config, env={}, cwd=tmp_path)


def test_clip_names_from_the_job_whatever_its_fields() -> None:
    job = ClipJob.model_validate(
        {
            "status": "completed",
            "clips": [
                {"clip_url": "http://x/c/0.mp4", "source_video": "cam-1.mp4", "start_seconds": 12},
                {"url": "http://x/c/1.mp4", "name": "../finish line"},
                "http://x/c/2.mp4?sig=abc",
                {"no_url": True},
            ],
        }
    )
    assert [(c.name, c.url) for c in clips_of(job, NameRules())] == [
        ("cam-1_12s.mp4", "http://x/c/0.mp4"),
        (".._finish line.mp4", "http://x/c/1.mp4"),
        ("2.mp4", "http://x/c/2.mp4?sig=abc"),
    ]
