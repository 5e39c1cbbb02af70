"""The single-instance lock next to the ledger, across real processes."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.errors import AlreadyRunningError
from syncer.lock import InstanceLock, lock_path_for

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from syncer.lock import InstanceLock
    lock = InstanceLock(Path(sys.argv[1]))
    lock.acquire()
    print("ready", flush=True)
    sys.stdin.read()
    """
)

CONTENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from syncer.errors import AlreadyRunningError
    from syncer.lock import InstanceLock
    try:
        InstanceLock(Path(sys.argv[1])).acquire()
    except AlreadyRunningError as exc:
        print(exc.message)
        sys.exit(exc.exit_code)
    print("acquired")
    """
)


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3.lock"


@pytest.fixture
def holder(lock_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def test_second_process_is_told_who_holds_the_lock(
    lock_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(AlreadyRunningError) as caught:
        InstanceLock(lock_path).acquire()
    message = caught.value.message
    assert f"another syncer (pid {holder.pid} on {socket.gethostname()}, since " in message
    assert f"is using {lock_path.parent / 'ledger.sqlite3'};" in message
    assert caught.value.exit_code == 75


def test_lock_is_free_after_the_holder_is_killed(
    lock_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.kill()  # SIGKILL: no cleanup code runs in the holder
    holder.wait(timeout=30)
    with InstanceLock(lock_path) as lock:
        assert lock.held
        assert lock_path.read_text().startswith(f"pid={os.getpid()} host=")


def test_contender_process_fails_while_we_hold_it(lock_path: Path) -> None:
    with InstanceLock(lock_path):
        result = subprocess.run(
            [sys.executable, "-c", CONTENDER, str(lock_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 75
        assert f"(pid {os.getpid()} on " in result.stdout
    result = subprocess.run(
        [sys.executable, "-c", CONTENDER, str(lock_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "acquired")


def test_lock_file_is_private_and_kept(lock_path: Path) -> None:
    lock = InstanceLock(lock_path)
    lock.acquire()
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock_path.parent.stat().st_mode) == 0o700
    lock.release()
    lock.release()  # idempotent
    assert lock_path.exists()
    assert not lock.held


def test_same_process_cannot_take_it_twice(lock_path: Path) -> None:
    with (
        InstanceLock(lock_path),
        pytest.raises(AlreadyRunningError, match=rf"pid {os.getpid()} "),
    ):
        InstanceLock(lock_path).acquire()
    with InstanceLock(lock_path) as again:
        assert again.held


def test_unknown_holder_text(lock_path: Path) -> None:
    with InstanceLock(lock_path):
        lock_path.write_text("garbage")
        with pytest.raises(AlreadyRunningError, match=r"another syncer \(pid unknown\)"):
            InstanceLock(lock_path).acquire()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/var/lib/syncer/ledger.sqlite3", "/var/lib/syncer/ledger.sqlite3.lock"),
        (Path("/srv/l.db"), "/srv/l.db.lock"),
        ("sqlite:////srv/state/l.db", "/srv/state/l.db.lock"),
        ("sqlite+pysqlite:////srv/my%20state/l.db?timeout=5", "/srv/my state/l.db.lock"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://u:p@db/ledger", None),
    ],
)
def test_lock_path_for(target: str | Path, expected: str | None) -> None:
    found = lock_path_for(target)
    assert (None if found is None else str(found)) == expected


def test_lock_path_for_relative_paths_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert lock_path_for("l.db") == tmp_path / "l.db.lock"
    assert lock_path_for("sqlite:///rel/l.db") == tmp_path / "rel" / "l.db.lock"


@pytest.mark.parametrize(
    "target",
    [
        "sqlite:////srv/my%20state/l.db?timeout=5",
        "sqlite:///rel/l.db",
        "sqlite+pysqlite:////a/b.sqlite3",
        "sqlite:///:memory:",
        "sqlite://",
        "/plain/path.db",
    ],
)
def test_lock_path_agrees_with_the_ledger(target: str) -> None:
    from syncer.ledger.engine import resolve_target

    ledger_file = resolve_target(target).path
    expected = None if ledger_file is None else ledger_file.with_name(ledger_file.name + ".lock")
    assert lock_path_for(target) == expected
