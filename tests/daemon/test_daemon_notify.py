"""syncer.notify over a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.daemon import NotifyListener
from syncer.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    sock = NotifyListener(tmp_path / "notify.sock")
    yield sock
    sock.close()


def receive(listener: NotifyListener) -> str:
    listener.sock.settimeout(2)
    return listener.sock.recv(4096).decode()


def test_without_socket_every_call_is_a_noop() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.watchdog_interval() is None
    notifier.ready()
    notifier.status("x")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    notifier.close()


def test_messages_reach_the_socket(listener: NotifyListener) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(listener.path)})
    assert notifier.enabled
    notifier.ready()
    assert receive(listener) == "READY=1"
    notifier.status("cycle 3:\n 2 new")
    assert receive(listener) == "STATUS=cycle 3: 2 new"
    notifier.watchdog()
    assert receive(listener) == "WATCHDOG=1"
    notifier.stopping()
    assert receive(listener) == "STOPPING=1"
    notifier.close()


def test_reloading_carries_the_monotonic_clock(listener: NotifyListener) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(listener.path)})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.close()
    first, second = receive(listener).split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_socket_names_are_supported() -> None:
    name = f"syncer-test-{os.getpid()}-{time.monotonic_ns()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        notifier.close()
        server.settimeout(2)
        assert server.recv(100) == b"READY=1"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "10000000"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(
    env: dict[str, str], expected: float | None
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "/run/x.sock", **env}, pid=4242)
    assert notifier.watchdog_interval() == expected


def test_unsupported_transport_disables_notifications() -> None:
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    notifier.ready()
    notifier.status("still fine")
    notifier.close()
