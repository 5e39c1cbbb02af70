"""Faults of the presigned links and of the storage host, end to end through `syncer sync`.

The faults of the transport (expired links, bodies cut, too long or wrong) run over plain HTTP
and over HTTPS (the simulator with a throwaway CA that the CLI trusts through SSL_CERT_FILE).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tls_ca import ThrowawayCA, make_ca, serve_tls

from harness.reliability import (
    World,
    all_files,
    assert_complete,
    assert_no_bad_photo,
    assert_one_line_error,
    build_world,
    configure,
    files_under,
    in_parallel,
    ledger_counts,
    status_row,
    sync,
)
from syncer.sim import Faults


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, photos=30)


def over(scheme: str, ca: ThrowawayCA, tmp: Path, **knobs: Any) -> Iterator[World]:
    """A world whose API and storage speak ``scheme``; over HTTPS the CLI trusts ``ca``."""
    tls = {"tls_cert": ca.cert, "tls_key": ca.key} if scheme == "https" else {}
    for world in build_world(tmp, **knobs, **tls):
        assert world.sim.base_url.startswith(f"{scheme}://")
        if tls:
            world.extra_env["SSL_CERT_FILE"] = str(ca.ca)
        yield world


@pytest.fixture(params=["http", "https"])
def either(request: pytest.FixtureRequest, test_ca: ThrowawayCA, tmp_path: Path) -> Iterator[World]:
    yield from over(request.param, test_ca, tmp_path, photos=30)


def test_links_expired_on_first_use_are_presigned_again(either: World) -> None:
    world = either
    world.sim.faults.expire_first_presign = True
    sync(world)
    stats = world.sim.stats
    assert stats.errors_served.get(403) == len(world.truth())  # every first link refused
    assert stats.urls_issued >= 2 * len(world.truth())
    assert_complete(world)


def test_connections_dropped_mid_body_are_never_saved_and_retried(either: World) -> None:
    world = either
    world.sim.faults.drop_mid_body_every = 3
    report = sync(world).json()  # every cut body is tried again within the same run
    assert world.sim.stats.storage_requests > len(world.truth())  # some bodies were cut
    assert report["retries"] > 0
    assert_complete(world)


def test_failed_and_silently_dropped_links_complete_in_the_same_run(world: World) -> None:
    world.sim.faults.failed_every = 4
    world.sim.faults.drop_ids_every = 5
    report = sync(world).json()
    assert report["downloaded"] == len(world.truth())
    assert report["failed"] == 0
    assert report["retries"] > 0
    assert ledger_counts(world.ledger) == {"downloaded": len(world.truth())}
    assert_complete(world)


def _never_stored(
    tmp: Path, mode: str, scheme: str = "http", ca: ThrowawayCA | None = None
) -> None:
    worlds = (
        over(scheme, ca, tmp, photos=20, faults=Faults(corrupt_storage=mode))
        if ca is not None
        else build_world(tmp, photos=20, faults=Faults(corrupt_storage=mode))
    )
    for world in worlds:
        report = sync(world, expect=(4,)).json()  # every storage GET is bad (corrupt_every = 1)
        assert report["downloaded"] == 0
        assert report["failed"] == len(world.truth())
        assert not [p for p in all_files(world.root) if p.name != ".syncer-root"]
        assert ledger_counts(world.ledger) == {"failed": len(world.truth())}
        world.sim.faults.reset()
        sync(world)
        assert_complete(world)


@pytest.mark.slow
def test_bad_storage_bodies_are_never_stored_as_photos(tmp_path: Path) -> None:
    """HTML with 200, a body shorter than Content-Length, a text/html Content-Type."""
    modes = ("html200", "short", "ctype")
    in_parallel({mode: partial(_never_stored, tmp_path / mode, mode) for mode in modes})


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_body_longer_than_content_length_is_never_stored(
    tmp_path: Path, scheme: str, test_ca: ThrowawayCA
) -> None:
    _never_stored(tmp_path, "long", scheme, test_ca)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_body_shorter_than_content_length_is_never_stored(
    tmp_path: Path, scheme: str, test_ca: ThrowawayCA
) -> None:
    _never_stored(tmp_path, "short", scheme, test_ca)


# a storage host whose certificate does not verify


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def untrusted(tmp_path: Path, test_ca: ThrowawayCA) -> Iterator[World]:
    """The API over plain HTTP; the photos from an HTTPS host the CLI does not trust (yet)."""
    objects = tmp_path / "objects"
    objects.mkdir()
    handler = partial(_Quiet, directory=str(objects))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    serve_tls(server, test_ca.server_context())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        yield from build_world(tmp_path, photos=12, data_dir=objects, storage_base_url=base)
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_storage_certificate_fails_each_photo_naming_the_host(
    untrusted: World, test_ca: ThrowawayCA
) -> None:
    world = untrusted
    other = make_ca(world.tmp / "other-ca", name="another CA")
    world.extra_env["SSL_CERT_FILE"] = str(other.ca)  # trusts a CA, not the one that signed
    report = sync(world, expect=(4,)).json()
    photos = len(world.truth())
    reason = "untrusted certificate from storage host 127.0.0.1 (trust its CA with SSL_CERT_FILE)"
    assert (report["downloaded"], report["failed"]) == (0, photos)
    assert report["failures"] == {reason: photos}
    assert ledger_counts(world.ledger) == {"failed": photos}
    assert not [p for p in all_files(world.root) if p.name != ".syncer-root"]
    human = world.run("sync")  # the summary a user reads says it (retry_base is 10 ms)
    assert human.returncode == 4
    assert f"{reason}" in human.stdout + human.stderr
    world.extra_env["SSL_CERT_FILE"] = str(test_ca.ca)  # the user trusts the CA: all come in
    sync(world)
    assert_complete(world)


def test_an_unreadable_ssl_cert_file_is_a_one_line_config_error(untrusted: World) -> None:
    world = untrusted
    world.extra_env["SSL_CERT_FILE"] = str(world.tmp / "no-such-bundle.pem")
    outcome = sync(world, expect=(78,))
    assert_one_line_error(outcome, 78, "SSL_CERT_FILE", "no-such-bundle.pem")


def _never_linked(world: World) -> str:
    """Make one photo's link fail forever; a run gives up on it after two tries."""
    configure(world, download={"max_attempts": 2, "retry_base": "1h"})
    victim = sorted(world.truth())[0]
    world.sim.faults.failed_ids = {victim}
    return victim


def test_photo_that_never_gets_a_link_is_deferred_and_reported(world: World) -> None:
    victim = _never_linked(world)
    first = sync(world, expect=(4,)).json()
    assert (first["downloaded"], first["failed"]) == (len(world.truth()) - 1, 1)
    assert [d["image_id"] for d in first["deferred"]] == [victim]
    calls = world.sim.stats.presign_calls
    again = world.run("sync")  # a one-shot sync tries a failed photo again at once
    assert again.returncode == 4
    assert "failed x1: no download link" in again.stdout
    assert f"{victim}: next try " in again.stdout
    assert world.sim.stats.presign_calls > calls
    row = status_row(world)
    assert (row["downloaded"], row["failed"], row["unavailable"]) == (
        len(world.truth()) - 1,
        1,
        0,
    ), row
    calls = world.sim.stats.presign_calls
    sync(world, "--no-retry-failed")  # the deferred photo waits for its time
    assert world.sim.stats.presign_calls == calls
    assert victim not in {Path(rel).stem for rel in files_under(world.root)}
    assert assert_no_bad_photo(world) == len(world.truth()) - 1
    world.sim.faults.reset()
    sync(world)
    assert_complete(world)


def test_run_that_gives_up_on_a_photo_exits_4(world: World) -> None:
    _never_linked(world)
    sync(world, expect=(4,))
    sync(world, expect=(4,))
