"""When syncer asks for O_DIRECT writes: asked for, with a root, and never on a network share."""

from __future__ import annotations

from pathlib import Path

import pytest

import syncer.wiring
from syncer.config import Settings
from syncer.root import RootInfo
from syncer.wiring import CycleWiring


def root_at(path: Path) -> RootInfo:
    return RootInfo(path, path / ".syncer-tmp", hardlinks=True, case_insensitive=False)


def test_on_by_default_for_a_local_root(tmp_path: Path) -> None:
    assert Settings().download.direct_io
    assert CycleWiring.build(Settings(), root_at(tmp_path)).direct_io


def test_the_setting_turns_it_off(tmp_path: Path) -> None:
    settings = Settings.model_validate({"download": {"direct_io": False}})
    assert not CycleWiring.build(settings, root_at(tmp_path)).direct_io


@pytest.mark.parametrize("fstype", ["nfs4", "cifs", "smb3", "fuse.sshfs"])
def test_never_on_a_network_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fstype: str
) -> None:
    monkeypatch.setattr(syncer.wiring, "filesystem_type", lambda path: fstype)
    assert not CycleWiring.build(Settings(), root_at(tmp_path)).direct_io


def test_a_dry_run_has_no_root_to_write_to() -> None:
    assert not CycleWiring.build(Settings(), None).direct_io
