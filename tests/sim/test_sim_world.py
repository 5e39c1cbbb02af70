"""The simulated world: deterministic data, the required event kinds, mutations, keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.sim import MakeSim
from syncer.errors import ConfigError
from syncer.sim import Faults, SimConfig, SimEvent, Simulator
from syncer.sim.world import ODD_BIBS, SPECIAL_BIBS, sort_key


def _world(sim: Simulator) -> list[tuple[SimEvent, list[tuple[object, ...]]]]:
    return [
        (e, [(p.image_id, p.captured_at, p.bibs, p.size, p.sha256) for p in sim.photos(e.event_id)])
        for e in sim.events()
    ]


def test_same_seed_gives_the_same_world_and_another_seed_does_not() -> None:
    config = {"photo_bytes": 5_000, "photos_per_event": 12}
    first = Simulator(SimConfig(seed=7, **config))
    again = Simulator(SimConfig(seed=7, **config))
    other = Simulator(SimConfig(seed=8, **config))
    try:
        assert _world(first) == _world(again)
        assert _world(first) != _world(other)
        photo = first.photos(456)[3]
        assert (
            first.photo_path(456, photo.image_id).read_bytes()
            == again.photo_path(456, photo.image_id).read_bytes()
        )
    finally:
        for sim in (first, again, other):
            sim.stop()


def test_required_event_kinds_exist(sim: Simulator) -> None:
    events = {e.event_id: e for e in sim.events()}
    first = events[456]
    assert (first.name, first.slug, first.status) == (
        "Mumbai Marathon 2026",
        "mumbai-marathon-2026",
        "active",
    )
    configured = [e for e in events.values() if e.configured]
    assert len(configured) == 4
    assert any(e.status == "draft" for e in configured)
    assert any(e.slug is None for e in configured)
    assert any(e.name and re.search(r"[^\x00-\x7f]", e.name) and "/" in e.name for e in configured)
    assert any(not e.flags["bib_search"] for e in configured)
    assert not events[sim.unconfigured_event_id].configured
    assert sim.foreign_event_id not in events
    assert sim.photos(sim.unconfigured_event_id) == []


def test_events_count_is_configurable(make_sim: MakeSim) -> None:
    sim = make_sim(events=6, photos_per_event=2)
    configured = [e.event_id for e in sim.events() if e.configured]
    assert configured == [456, 457, 458, 459, 460, 461]
    assert make_sim(events=1, photos_per_event=2).events()[1].name == "Mumbai Marathon 2026"


def test_photos_are_ordered_with_untimed_last_and_ties_by_id(sim: Simulator) -> None:
    photos = sim.photos(456)
    assert len(photos) == 40
    assert photos == sorted(photos, key=sort_key)
    untimed = [p for p in photos if p.captured_at is None]
    assert 1 <= len(untimed) <= 4
    assert photos[-len(untimed) :] == untimed
    times = [p.captured_at for p in photos if p.captured_at is not None]
    assert len(set(times)) < len(times), "the data should contain capture-time ties"
    assert len({p.image_id for e in sim.events() for p in sim.photos(e.event_id)}) == 160


def test_bibs_come_from_the_documented_pool(sim: Simulator) -> None:
    bibs = [b for p in sim.photos(456) for b in p.bibs]
    assert set(SPECIAL_BIBS) | set(ODD_BIBS) <= set(bibs)
    assert all(b in SPECIAL_BIBS + ODD_BIBS or 1 <= int(b) <= 300 for b in bibs)
    assert all(len(p.bibs) <= 3 for p in sim.photos(456))


def test_ids_are_uuid_like_unless_non_hex_ids(make_sim: MakeSim) -> None:
    uuid_like = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    plain = make_sim(photos_per_event=30)
    assert all(uuid_like.match(p.image_id) for p in plain.photos(456))
    odd = make_sim(photos_per_event=30, non_hex_ids=True)
    non_hex = [p.image_id for p in odd.photos(456) if re.search(r"[g-z]", p.image_id)]
    assert non_hex
    assert all(re.match(r"^[0-9a-z]{8}-[0-9a-z]{4}-", i) for i in non_hex)


def test_add_photos_earlier_and_later(sim: Simulator) -> None:
    before = sim.photos(456)
    timed = [p.captured_at for p in before if p.captured_at is not None]
    early = sim.add_photos(456, 2, earlier=True, bibs=("777",))
    late = sim.add_photos(456, 1)
    after = sim.photos(456)
    assert len(after) == 43
    assert {p.image_id for p in after[:2]} == {p.image_id for p in early}
    assert all(p.captured_at is not None and p.captured_at < min(timed) for p in early)
    assert all(p.bibs == ("777",) for p in early)
    assert late[0].captured_at is not None
    assert late[0].captured_at > max(timed)
    assert sim.photo_path(456, early[0].image_id).stat().st_size == early[0].size


def test_remove_photo_deletes_it_and_its_file(sim: Simulator) -> None:
    victim = sim.photos(456)[5]
    path = sim.photo_path(456, victim.image_id)
    sim.remove_photo(456, victim.image_id)
    assert victim.image_id not in {p.image_id for p in sim.photos(456)}
    assert not path.exists()
    with pytest.raises(ConfigError, match="has no photo"):
        sim.remove_photo(456, victim.image_id)
    with pytest.raises(ConfigError, match="has no photo"):
        sim.photo_path(456, victim.image_id)


def test_bad_calls_raise_one_line_config_errors(sim: Simulator) -> None:
    with pytest.raises(ConfigError, match="not a configured event"):
        sim.add_photos(12345, 1)
    with pytest.raises(ConfigError, match="not an event of org"):
        sim.photos(sim.foreign_event_id)
    with pytest.raises(ConfigError, match="unknown key"):
        sim.revoke_key("no-such-key")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("events", -1, "events must be"),
        ("port", 70000, "port must be"),
        ("oversize_page", "shrink", "oversize_page must be one of"),
        ("partial_invalid_ids", "keep", "partial_invalid_ids must be one of"),
        ("presign_ttl", -1.0, "presign_ttl"),
        ("storage_base_url", "ftp://x", "storage_base_url"),
        ("api_key", " ", "api_key must not be empty"),
    ],
)
def test_bad_config_is_rejected(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Simulator(SimConfig(**{field: value}))  # type: ignore[arg-type]


def test_keys_hold_at_most_ten_and_never_show_in_repr(tmp_path: Path) -> None:
    config = SimConfig(api_key="very-secret-key", photos_per_event=1, data_dir=tmp_path / "d")
    sim = Simulator(config)
    try:
        assert "very-secret-key" not in repr(config)
        assert "very-secret-key" not in repr(sim)
        keys = sim.api_keys()
        assert keys[0] == ("very-secret-key", True)
        assert any(not active for _, active in keys)
        while len(sim.api_keys()) < 10:
            sim.add_key()
        with pytest.raises(ConfigError, match="at most 10 keys"):
            sim.add_key()
        sim.revoke_key("very-secret-key")
        assert ("very-secret-key", False) in sim.api_keys()
    finally:
        sim.stop()
    assert (tmp_path / "d").is_dir(), "a data dir given by the caller is kept"


def test_temporary_data_dir_is_removed_on_stop(make_sim: MakeSim) -> None:
    sim = make_sim()
    sim.wait_files()
    files = list(sim.data_dir.rglob("*.jpg"))
    assert len(files) == 160
    sim.stop()
    assert not sim.data_dir.exists()
    with pytest.raises(ConfigError, match="cannot be started again"):
        sim.start()


def test_storage_relpath_names_the_file_under_data_dir(sim: Simulator) -> None:
    photo = sim.photos(457)[0]
    relpath = sim.storage_relpath(457, photo.image_id)
    assert relpath == f"457/{photo.image_id}.jpg"
    assert sim.photo_path(457, photo.image_id) == sim.data_dir / relpath


def test_faults_validate_their_knobs() -> None:
    faults = Faults(throttle_every=3)
    assert faults.throttle_every == 3
    with pytest.raises(ConfigError, match="unknown fault knob 'throttle_evry'"):
        faults.throttle_evry = 2
    with pytest.raises(ConfigError, match="throttle_every must be an integer >= 1"):
        faults.throttle_every = 0
    with pytest.raises(ConfigError, match="corrupt_storage must be one of"):
        faults.corrupt_storage = "garbled"
    with pytest.raises(ConfigError, match="retry_after"):
        faults.retry_after = "soon"
    with pytest.raises(ConfigError, match="failed_ids must be a set"):
        faults.failed_ids = "abc"
    faults.reset()
    assert faults.throttle_every is None
    assert repr(faults) == "Faults()"
