"""syncer.metrics: counters and gauges, rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.daemon import make_report
from syncer.metrics import CONTENT_TYPE, CYCLE_RESULTS, Metrics
from syncer.report import CycleReport, EventReport


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text, keyed by name and sorted labels."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_fresh_metrics_render_and_parse() -> None:
    values = samples(Metrics())
    for result in CYCLE_RESULTS:
        assert values[("syncer_cycles_total", (("result", result),))] == 0
    assert values[("syncer_last_success_timestamp_seconds", ())] == 0
    assert "text/plain" in CONTENT_TYPE


def test_api_observer_counts_by_endpoint_and_status() -> None:
    metrics = Metrics()
    for status in (200, 200, 429, 0):
        metrics.observe_api("images", status)
    values = samples(metrics)
    key = "syncer_api_responses_total"
    assert values[(key, (("endpoint", "images"), ("status", "200")))] == 2
    assert values[(key, (("endpoint", "images"), ("status", "429")))] == 1
    assert values[(key, (("endpoint", "images"), ("status", "0")))] == 1
    assert values[("syncer_api_throttled_total", ())] == 1


def test_api_observer_is_thread_safe() -> None:
    metrics = Metrics()

    def hammer() -> None:
        for _ in range(500):
            metrics.observe_api("ping", 200)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = samples(metrics)
    assert values[("syncer_api_responses_total", (("endpoint", "ping"), ("status", "200")))] == 4000


def test_record_cycle_adds_the_report_totals() -> None:
    metrics = Metrics()
    start = datetime(2026, 1, 19, 6, 0, tzinfo=UTC)
    report = CycleReport(
        started_at=start,
        ended_at=start + timedelta(seconds=42),
        events=[
            EventReport(1, new=3, downloaded=2, failed=1, bytes=1000),
            EventReport(2, new=1, downloaded=1, bytes=24),
        ],
    )
    metrics.record_cycle(report, "ok")
    values = samples(metrics)
    assert values[("syncer_photos_downloaded_total", ())] == 3
    assert values[("syncer_downloaded_bytes_total", ())] == 1024
    assert values[("syncer_photos_discovered_total", ())] == 4
    assert values[("syncer_photos_failed_total", ())] == 1
    assert values[("syncer_cycles_total", (("result", "ok"),))] == 1
    assert values[("syncer_cycle_duration_seconds_sum", ())] == 42
    assert values[("syncer_cycle_duration_seconds_bucket", (("le", "60.0"),))] == 1
    assert values[("syncer_cycle_duration_seconds_bucket", (("le", "30.0"),))] == 0
    expected = (start + timedelta(seconds=42)).timestamp()
    assert values[("syncer_last_success_timestamp_seconds", ())] == expected


def test_a_failed_cycle_is_counted_but_is_no_success() -> None:
    metrics = Metrics()
    metrics.record_cycle(None, "auth", seconds=1.5)
    metrics.record_cycle(None, "error")
    values = samples(metrics)
    assert values[("syncer_cycles_total", (("result", "auth"),))] == 1
    assert values[("syncer_cycles_total", (("result", "error"),))] == 1
    assert values[("syncer_cycle_duration_seconds_count", ())] == 1
    assert values[("syncer_last_success_timestamp_seconds", ())] == 0


def test_unknown_cycle_result_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cycle result 'fine'"):
        Metrics().record_cycle(make_report(), "fine")


def test_set_states_replaces_the_previous_counts() -> None:
    metrics = Metrics()
    metrics.set_states({"pending": 5, "done": 10})
    metrics.set_states({"done": 15, "failed": 1})
    values = samples(metrics)
    assert values[("syncer_photos", (("state", "pending"),))] == 0
    assert values[("syncer_photos", (("state", "done"),))] == 15
    assert values[("syncer_photos", (("state", "failed"),))] == 1


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe_api("ping", 200)
    assert ("syncer_api_responses_total", (("endpoint", "ping"), ("status", "200"))) not in (
        samples(second)
    )


def test_the_download_concurrency_is_a_gauge() -> None:
    metrics = Metrics()
    assert samples(metrics)[("syncer_download_concurrency", ())] == 0
    metrics.set_concurrency(27)
    metrics.set_concurrency(18)
    assert samples(metrics)[("syncer_download_concurrency", ())] == 18
