"""Bad input: config files, BIB specs, layout templates, hostile names inside and above the root."""

from __future__ import annotations

import os
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.e2e import SYNCER
from harness.reliability import (
    Outcome,
    World,
    all_files,
    assert_complete,
    assert_no_bad_photo,
    assert_one_line_error,
    build_world,
    configure,
    sync,
)

SECRET_IN_CONFIG = "cfg-secret-4f1d9a"  # noqa: S105 (a fake key that must never be echoed)

# name -> (config overrides, extra sync arguments, words the error line must contain)
BAD_CONFIGS: dict[str, tuple[dict[str, dict[str, object]], tuple[str, ...], tuple[str, ...]]] = {
    "unknown storage key": ({"storage": {"roots": "/x"}}, (), ("storage.roots",)),
    "workers not a number": ({"download": {"workers": "many"}}, (), ("download.workers",)),
    "key of the wrong type": (
        {"api": {"key": [SECRET_IN_CONFIG]}},
        (),
        ("api.key",),
    ),
    "reversed bib range on the command line": ({}, ("--bibs", "5-1"), ("5-1",)),
    "reversed bib range in the config": ({"event": {"bibs": "9-3"}}, (), ("9-3",)),
    "unknown placeholder": ({"storage": {"layout": "{event}/{nope}/{filename}"}}, (), ("{nope}",)),
    "no file name in the template": ({"storage": {"layout": "{event}/{bib}"}}, (), ("{filename}",)),
    "template climbing out": ({"storage": {"layout": "../{filename}"}}, (), ("..",)),
    "absolute template": ({"storage": {"layout": "/abs/{filename}"}}, (), ("relative",)),
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path)


@pytest.mark.slow
def test_bad_settings_give_one_line_and_exit_78(world: World) -> None:
    """All cases run at once (they are independent processes); none may touch anything."""
    running: dict[str, subprocess.Popen[str]] = {}
    for index, (name, (sections, args, _)) in enumerate(BAD_CONFIGS.items()):
        path = configure(world, path=world.tmp / f"bad-{index}.toml", **sections)
        env = world.env()
        if "api" in sections and "key" in sections["api"]:
            del env["SYNCER_API_KEY"]  # the environment would win over the file
        running[name] = subprocess.Popen(
            [SYNCER, "--config", str(path), "sync", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    invalid_toml = world.tmp / "broken.toml"
    invalid_toml.write_text('[storage\nroot = "x"\n')
    running["invalid TOML"] = subprocess.Popen(
        [SYNCER, "--config", str(invalid_toml), "sync"],
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for name, process in running.items():
        out = Outcome.of(process)
        words = BAD_CONFIGS[name][2] if name in BAD_CONFIGS else ("TOML",)
        try:
            assert_one_line_error(out, 78, *words)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
        assert SECRET_IN_CONFIG not in out.stdout + out.stderr, name
        assert world.sim.api_key not in out.stdout + out.stderr, name
    assert world.sim.stats.api_requests == 0
    assert not world.root.exists()
    assert not world.ledger.exists()


def _event_folder(world: World) -> Path:
    return next(p for p in world.root.iterdir() if p.name.startswith(str(world.event_id)))


@pytest.mark.parametrize("planted", ["event folder", "temp folder"])
def test_symlink_planted_in_the_root_never_leads_outside(world: World, planted: str) -> None:
    sync(world)
    inside = _event_folder(world) if planted == "event folder" else world.root / ".syncer-tmp"
    outside = world.tmp / "outside"
    outside.mkdir()
    (outside / "notes.part").write_text("somebody else's file\n")
    inside.rename(world.tmp / "aside")
    inside.symlink_to(outside, target_is_directory=True)
    before = os.stat(outside).st_mtime_ns  # any file created or removed there changes it
    world.sim.add_photos(world.event_id, 5)
    out = sync(world, expect=(4, 74))
    assert "internal error" not in out.stderr
    assert "symbolic link" in out.stdout + out.stderr, out
    assert [p.name for p in outside.iterdir()] == ["notes.part"]
    assert os.stat(outside).st_mtime_ns == before
    assert all(world.root in p.parents for p in all_files(world.root))


def test_path_unsafe_event_name_syncs_into_a_sanitised_folder(tmp_path: Path) -> None:
    for world in build_world(tmp_path, event_id=459):
        event = next(e for e in world.sim.events() if e.event_id == 459)
        assert event.slug is not None
        assert set(event.slug) & set(":/?*")
        sync(world)
        assert_complete(world)
        tops = [p for p in world.root.iterdir() if not p.name.startswith(".")]
        assert len(tops) == 1, tops
        top = tops[0].name
        assert top.startswith("459-")
        assert not set(top) & set('<>:"|?*\\/')
        assert unicodedata.normalize("NFC", "zürich") in top
        assert all(len(p.relative_to(world.root).parts) == 3 for p in all_files(tops[0]))
        assert assert_no_bad_photo(world) == len(world.truth())
        assert os.sep not in top
