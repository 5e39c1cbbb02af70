"""Claims: nodes sharing a PostgreSQL ledger take disjoint photos, for a lease they renew.

The SQLite ledger has one syncer at a time: a claim there is today's due list, unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest

from harness.ledger import EVENT, T0, downloaded, query, walk
from syncer.errors import AlreadyRunningError
from syncer.ledger import Ledger, PhotoResult

LEASE = timedelta(seconds=30)
IDS = [f"p{n:02d}" for n in range(20)]


@pytest.fixture
def two_nodes(postgres_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    """Two nodes, ``a`` and ``b``, on one PostgreSQL ledger holding 20 pending photos."""
    with ExitStack() as stack:
        a = stack.enter_context(Ledger.open(postgres_url))
        b = stack.enter_context(Ledger.open(postgres_url))
        walk(a, EVENT, [IDS])
        stack.enter_context(a.joined("a", LEASE, T0))
        stack.enter_context(b.joined("b", LEASE, T0))
        yield a, b


def names(photos: object) -> list[str]:
    return [p.image_id for p in photos.photos]  # type: ignore[attr-defined]


def test_on_sqlite_a_claim_is_the_due_list(ledger_path: object) -> None:
    with Ledger.open(ledger_path) as ledger:  # type: ignore[arg-type]
        walk(ledger, EVENT, [IDS])
        with ledger.joined("a", LEASE, T0):
            assert not ledger.shared
            claim = ledger.claim(EVENT, T0, limit=5)
            assert names(claim) == IDS[:5]
            assert claim.later is False
            assert [p.image_id for p in ledger.due(EVENT, T0, limit=5)] == IDS[:5]
            ledger.renew([1, 2], T0, downloading=2)  # nothing to renew alone
        assert ledger.nodes(T0) == []


def test_two_nodes_never_take_the_same_photo(
    two_nodes: tuple[Ledger, Ledger], postgres_url: str
) -> None:
    a, b = two_nodes
    first = a.claim(EVENT, T0, limit=8)
    second = b.claim(EVENT, T0, limit=8)
    third = a.claim(EVENT, T0, after_id=first.photos[-1].photo_id, limit=8)
    assert names(first) == IDS[:8]
    assert names(second) == IDS[8:16]
    assert names(third) == IDS[16:]
    rest = b.claim(EVENT, T0, limit=8)
    assert rest.photos == []
    assert rest.later  # a holds live claims: they come back if a dies
    holders = dict(query(postgres_url, "SELECT image_id, claimed_by FROM photos"))
    assert sorted(i for i, n in holders.items() if n == "a") == IDS[:8] + IDS[16:]


def test_concurrent_claims_split_the_photos(two_nodes: tuple[Ledger, Ledger]) -> None:
    """Claims racing on two connections: SKIP LOCKED gives each photo to one node."""
    a, b = two_nodes
    taken: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def take(node: Ledger, name: str) -> None:
        start.wait()
        while batch := node.claim(EVENT, T0, limit=1).photos:
            taken[name] += [p.image_id for p in batch]

    threads = [threading.Thread(target=take, args=pair) for pair in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken["a"] + taken["b"]) == IDS  # every photo once, none twice


def test_a_lapsed_claim_goes_to_another_node(two_nodes: tuple[Ledger, Ledger]) -> None:
    a, b = two_nodes
    held = a.claim(EVENT, T0, limit=20)
    assert len(held.photos) == 20
    assert b.claim(EVENT, T0 + LEASE).later  # the lease still runs at its last instant
    a.renew([p.photo_id for p in held.photos[:5]], T0 + LEASE, downloading=5)
    after = b.claim(EVENT, T0 + LEASE + timedelta(seconds=1), limit=20)
    assert names(after) == IDS[5:]  # a renewed the first five: still a's
    (node_a, node_b) = b.nodes(T0 + LEASE + timedelta(seconds=1))
    assert (node_a.name, node_a.claimed, node_a.downloading) == ("a", {EVENT: 5}, 5)
    assert (node_b.name, node_b.claimed) == ("b", {EVENT: 15})


def test_a_photo_finished_by_another_node_is_not_recorded_again(
    two_nodes: tuple[Ledger, Ledger], postgres_url: str
) -> None:
    a, b = two_nodes
    photo = a.claim(EVENT, T0, limit=1).photos[0]
    late = T0 + LEASE + timedelta(seconds=1)  # a stalled past its lease; b took the photo
    assert b.claim(EVENT, late, limit=1).photos[0].photo_id == photo.photo_id
    assert b.record_results([downloaded(photo.photo_id, "456/_no_bib/p00.jpg")], late) == 0
    mine = PhotoResult(photo.photo_id, "retry", error="cut body", retry_at=late)
    assert a.record_results([mine, downloaded(photo.photo_id + 1, "456/x.jpg")], late) == 1
    rows = query(postgres_url, "SELECT id, state, claimed_by, attempts FROM photos")
    assert [row[1:] for row in rows if row[0] == photo.photo_id] == [("downloaded", None, 0)]
    assert a.occupied(["456/_no_bib/p00.jpg"]) == {"456/_no_bib/p00.jpg": photo.photo_id}


def test_a_node_name_works_in_one_process_at_a_time(postgres_url: str) -> None:
    refused = pytest.raises(AlreadyRunningError, match="node 'a' is already working")
    with Ledger.open(postgres_url) as first, Ledger.open(postgres_url) as second:
        with first.joined("a", LEASE, T0), refused, second.joined("a", LEASE, T0):
            pass
        with second.joined("a", LEASE, T0):  # free again once the first has left
            assert second.shared


def test_a_restarted_node_gives_up_its_old_claims(postgres_url: str) -> None:
    with Ledger.open(postgres_url) as ledger:
        walk(ledger, EVENT, [IDS])
        with ledger.joined("a", LEASE, T0):
            ledger.claim(EVENT, T0, limit=20)
        assert query(postgres_url, "SELECT count(*) FROM photos WHERE claimed_by IS NOT NULL") == [
            (0,)
        ]


def test_one_node_at_a_time_keeps_an_event(two_nodes: tuple[Ledger, Ledger]) -> None:
    a, b = two_nodes
    with a.event_upkeep(EVENT) as a_keeps, b.event_upkeep(EVENT) as b_keeps:
        assert (a_keeps, b_keeps) == (True, False)
        assert b.claim(EVENT, T0).photos  # b downloads meanwhile
        a.claim(EVENT, T0, limit=100)
        assert b.claim(EVENT, T0).later  # nothing left now, but a is still at work
    with b.event_upkeep(EVENT) as b_keeps:
        assert b_keeps
