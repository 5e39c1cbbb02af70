"""The systemd units: valid for systemd-analyze, consistent with the CLI and the README."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncer.daemon import run_daemon

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
UNIT_NAMES = ("syncer.service", "syncer-sync@.service", "syncer-sync@.timer")
SERVICES = ("syncer.service", "syncer-sync@.service")
BINARY = "/opt/syncer/bin/syncer"
README_SECTION = "## Running as a service"
# The section lives in README.md; before it is merged there, in its draft beside the brief.
README = REPO / "README.md"
HARDENING = {
    "NoNewPrivileges",
    "ProtectSystem",
    "ReadWritePaths",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "RestrictAddressFamilies",
    "LockPersonality",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "CapabilityBoundingSet",
    "RestrictSUIDSGID",
}


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists; keys may repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"{path.name}: setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a KEY=VALUE line: {line}"
        current.append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for k, v in parse_unit(path).get(section, []) if k == key]


def one(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{path.name}: [{section}] {key} appears {len(found)} times"
    return found[0]


def syncer_commands() -> list[list[str]]:
    """The argv (after the binary) of every ExecStart that runs syncer."""
    commands = []
    for name in SERVICES:
        for command in values(UNITS / name, "Service", "ExecStart"):
            argv = command.split()
            assert argv[0] == BINARY, f"{name}: ExecStart runs {argv[0]}, not {BINARY}"
            commands.append(argv[1:])
    return commands


def readme_section() -> str:
    text = README.read_text()
    if README_SECTION not in text:
        pytest.fail(f"no '{README_SECTION}' section in {README}")
    start = text.index(README_SECTION)
    end = text.find("\n## ", start + len(README_SECTION))
    return text[start : end if end != -1 else None]


def cli_help(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "syncer", *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def subcommands(help_text: str) -> set[str]:
    """Subcommand names listed by argparse under the positional arguments."""
    listing = help_text.split("positional arguments:", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"^ {4}([a-z][\w-]*)(?:\s|$)", listing, flags=re.MULTILINE))
    for group in re.findall(r"\{([\w,-]+)\}", help_text):
        names.update(group.split(","))
    return names


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    fake = tmp_path / "syncer"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text().replace(BINARY, str(fake))
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in UNIT_NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    complaints = [
        line
        for line in done.stderr.splitlines()
        if str(tmp_path) in line or any(n.split("@")[0] in line for n in UNIT_NAMES)
    ]
    assert done.returncode == 0, done.stderr
    assert complaints == []


def test_service_basics() -> None:
    service = UNITS / "syncer.service"
    assert one(service, "Service", "Type") == "notify"
    assert one(service, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(service, "Service", "User") == one(service, "Service", "Group") == "syncer"
    assert set(one(service, "Service", "RestartPreventExitStatus").split()) == {"77", "78"}
    assert one(service, "Service", "Restart") == "on-failure"
    assert int(one(service, "Service", "WatchdogSec")) >= 30
    # longer than the daemon's own 60 s wait for a running cycle
    assert int(one(service, "Service", "TimeoutStopSec")) > 60
    timer = UNITS / "syncer-sync@.timer"
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Timer", "OnCalendar")
    assert one(timer, "Timer", "RandomizedDelaySec")
    assert one(UNITS / "syncer-sync@.service", "Service", "Type") == "oneshot"


@pytest.mark.parametrize("name", SERVICES)
def test_services_share_the_credential_config_and_hardening(name: str) -> None:
    unit = UNITS / name
    assert one(unit, "Service", "LoadCredential") == "api_key:/etc/syncer/api_key"
    assert "SYNCER_CONFIG=/etc/syncer/config.toml" in values(unit, "Service", "Environment")
    assert one(unit, "Service", "StateDirectory") == "syncer"
    keys = {key for key, _ in parse_unit(unit)["Service"]}
    assert keys >= HARDENING, HARDENING - keys
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert set(one(unit, "Service", "RestrictAddressFamilies").split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
    }
    assert "@system-service" in values(unit, "Service", "SystemCallFilter")
    writable = one(unit, "Service", "ReadWritePaths").split()
    assert [path.lstrip("-") for path in writable] == ["/var/lib/syncer", "/srv/9pic"]


def test_every_syncer_command_in_the_units_exists_in_the_cli() -> None:
    commands = syncer_commands()
    assert [argv[0] for argv in commands] == ["daemon", "sync"]
    known = subcommands(cli_help())
    for argv in commands:
        assert argv[0] in known, f"'syncer {argv[0]}' is not a CLI subcommand ({known})"
        options = [arg for arg in argv[1:] if arg.startswith("--")]
        sub_help = cli_help(argv[0])
        for option in options:
            assert re.search(rf"(^|\s|\[){re.escape(option)}(\s|\]|$|=)", sub_help), (
                f"'syncer {argv[0]}' has no option {option}"
            )


def test_readme_matches_the_units() -> None:
    section = readme_section()
    for name in UNIT_NAMES:
        assert name in section, f"{name} is not mentioned in the README"
    unit_text = "\n".join((UNITS / name).read_text() for name in UNIT_NAMES)
    paths = set(re.findall(r"(?<![\w.-])/(?:opt|etc|var|srv)/[\w./@-]+", unit_text))
    assert {BINARY, "/etc/syncer/config.toml", "/etc/syncer/api_key"} <= paths
    for path in sorted(paths):
        assert path in section, f"{path} (from the units) is not in the README section"
    for argv in syncer_commands():
        assert f"syncer {argv[0]}" in section
    known = subcommands(cli_help())
    for sub in re.findall(rf"{re.escape(BINARY)} ([a-z][\w-]*)", section):
        assert sub in known, f"the README runs '{BINARY} {sub}', which the CLI does not define"


def test_timer_runs_and_the_daemon_exclude_each_other() -> None:
    """Starting a timer-driven run stops the daemon (and starting the daemon stops a run)."""
    assert one(UNITS / "syncer-sync@.service", "Unit", "Conflicts") == "syncer.service"
    assert "Conflicts=" in readme_section()


def test_a_temporary_failure_of_a_timer_run_is_not_a_failed_unit() -> None:
    """Exit 75 (ledger busy, API unavailable) is retried by the next timer, as the README says;
    143 is a run stopped by SIGTERM (systemctl stop), which resumes next time."""
    codes = one(UNITS / "syncer-sync@.service", "Service", "SuccessExitStatus").split()
    assert codes == ["75", "143"]
    section = " ".join(readme_section().split())
    assert "SuccessExitStatus=75 143" in section
    assert "next timer" in section


def test_the_stop_timeout_comment_tells_its_value() -> None:
    lines = (UNITS / "syncer.service").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("TimeoutStopSec="))
    value = int(lines[at].split("=", 1)[1])
    comment = []
    for line in reversed(lines[:at]):
        if not line.startswith("#"):
            break
        comment.insert(0, line.lstrip("# "))
    text = " ".join(comment)
    cycle_wait = inspect.signature(run_daemon).parameters["stop_timeout"].default
    assert value > cycle_wait
    assert f"{value} s" in text
    assert f"{cycle_wait:.0f} s" in text
