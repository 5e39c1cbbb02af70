"""``[node]``: the name of this machine among the nodes sharing a ledger, and its lease."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from syncer.config import load_settings
from syncer.config.sections import default_node_name
from syncer.errors import ConfigError


def test_the_name_defaults_to_the_host_name(tmp_path: Path) -> None:
    settings = load_settings(config_path=None, env={}, cwd=tmp_path)
    assert settings.node.name == default_node_name()
    assert default_node_name().startswith(socket.gethostname().split(".")[0][:1])
    assert settings.node.lease == 60.0


def test_a_host_name_that_is_no_folder_name_is_made_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "_Büro PC.example.org")
    assert default_node_name() == "B-ro-PC"
    monkeypatch.setattr(socket, "gethostname", lambda: "...")
    assert default_node_name() == "node"


def test_name_and_lease_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        config_path=None,
        env={"SYNCER_NODE__NAME": "nas-2.lan", "SYNCER_NODE__LEASE": "5s"},
        cwd=tmp_path,
    )
    assert (settings.node.name, settings.node.lease) == ("nas-2.lan", 5.0)


@pytest.mark.parametrize("name", ["", "..", "a/b", "-x", "a b", "x" * 65, "nöde"])
def test_a_name_that_is_not_one_safe_path_part_is_one_config_error(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigError, match=r"node\.name: expected 1-64 letters") as caught:
        load_settings(config_path=None, env={"SYNCER_NODE__NAME": name}, cwd=tmp_path)
    assert caught.value.exit_code == 78
    assert "\n" not in caught.value.message


def test_a_lease_under_a_second_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"node\.lease"):
        load_settings(config_path=None, env={"SYNCER_NODE__LEASE": "0.5s"}, cwd=tmp_path)
