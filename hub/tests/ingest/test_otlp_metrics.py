"""The OTLP metrics mapping on each engine: cumulative streams, both semconv generations, explicit buckets."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from tallyhub import histograms
from tallyhub.storage.database import Database
from tallyhub.storage.tables import LEVEL_CONSUMER_TOTAL, LEVEL_TOTAL, consumers, endpoints, metrics

from tests.support.otlp import DEFAULT_BOUNDS, DELTA, Requests, apitally_export, otel_flask_export
from tests.support.otlp_hub import MINUTE_NS, Hub, totals

SECOND = 10**9


@pytest.fixture
def hub(db: Database) -> Hub:
    """The in-process hub (this folder's, not the conftest's hub process)."""
    return Hub(db)


START = MINUTE_NS - 600 * SECOND  # when the exporting process started


def flask(
    durations: dict[tuple[str, str, int], list[float]], at: int, start: int = START, **kw: object
) -> bytes:
    reqs = [Requests(m, r, s, d, "alice" if s == 200 else None) for (m, r, s), d in durations.items()]
    return otel_flask_export(reqs, None, at, start, **kw).SerializeToString()  # type: ignore[arg-type]


def test_cumulative_exports_count_only_what_each_adds(hub: Hub) -> None:
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 3}, MINUTE_NS + 5 * SECOND))
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 3 + [0.2] * 2}, MINUTE_NS + 65 * SECOND))
    # Nothing new: the same totals again (a later collection) add nothing.
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 3 + [0.2] * 2}, MINUTE_NS + 125 * SECOND))
    assert totals(hub) == {200: 5}
    by_minute = {r.bucket: r for r in hub.rows(metrics, metrics.c.level == LEVEL_TOTAL)}
    assert {b: r.request_count for b, r in by_minute.items()} == {1795715100: 3, 1795715160: 2}
    # 200 ms lies in the SDK's bucket (100, 250] ms: its middle, 175 ms, is in the 170 ms bin.
    assert json.loads(by_minute[1795715160].response_times) == {"170": 2}
    (alice,) = hub.rows(consumers)
    assert alice.identifier == "alice"  # enduser.id, the older conventions' consumer


def test_cumulative_state_survives_a_hub_restart(db: Database) -> None:
    first = Hub(db)
    first.post("metrics", flask({("GET", "/items", 200): [0.01] * 4}, MINUTE_NS))
    again = Hub.__new__(Hub)  # a new hub process on the same database, same app and token
    again.__dict__.update(first.__dict__)
    from tallyhub.app import create_app
    from tallyhub.settings import load_settings

    again.app = create_app(load_settings({}), db, run_maintenance=False)
    again.post("metrics", flask({("GET", "/items", 200): [0.01] * 7}, MINUTE_NS + 30 * SECOND))
    assert totals(again) == {200: 7}


def test_a_counter_reset_counts_the_new_totals_whole(hub: Hub) -> None:
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 10}, MINUTE_NS))
    # The process restarted: a later start time, smaller totals.
    restarted = MINUTE_NS + 20 * SECOND
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 2}, MINUTE_NS + 30 * SECOND, start=restarted))
    # Same start time but fewer requests than before: a reset as well.
    hub.post("metrics", flask({("GET", "/items", 200): [0.01] * 1}, MINUTE_NS + 40 * SECOND, start=restarted))
    assert totals(hub) == {200: 13}


def test_an_older_cumulative_export_arriving_late_adds_nothing(hub: Hub) -> None:
    early = flask({("GET", "/items", 200): [0.01] * 3}, MINUTE_NS)
    late = flask({("GET", "/items", 200): [0.01] * 5}, MINUTE_NS + 30 * SECOND)
    hub.post("metrics", late)
    hub.post("metrics", early)  # a retried spool file, older than what is stored
    assert totals(hub) == {200: 5}


def test_delta_explicit_buckets_and_old_semconv(hub: Hub) -> None:
    body = flask({("GET", "/a", 200): [0.003, 0.4], ("POST", "/a", 500): [2.0]}, MINUTE_NS, temporality=DELTA)
    hub.post("metrics", body)
    assert totals(hub) == {200: 2, 500: 1}


@pytest.mark.parametrize("exponential", [True, False])
def test_percentiles_lie_within_one_source_bucket_or_one_bin(hub: Hub, exponential: bool) -> None:
    rnd = random.Random(7)
    durations = [rnd.lognormvariate(-3, 1.2) for _ in range(500)]  # seconds, median ~50 ms
    if exponential:
        body = apitally_export([Requests("GET", "/p", 200, durations)], str(uuid.uuid4()), MINUTE_NS)
    else:
        body = ExportMetricsServiceRequest.FromString(
            flask({("GET", "/p", 200): durations}, MINUTE_NS, temporality=DELTA)
        )
    hub.post("metrics", body.SerializeToString())
    (row,) = hub.rows(metrics, metrics.c.level == LEVEL_TOTAL)
    stored = histograms.loads(row.response_times)
    assert sum(stored.values()) == 500
    ordered = sorted(d * 1000 for d in durations)
    for q in (0.5, 0.75, 0.95, 0.99):
        got = histograms.percentiles(stored, [q], histograms.RESPONSE_TIME_BIN_MS)[q]
        assert got is not None
        true = ordered[max(1, -(-int(q * 500 * 1000) // 1000)) - 1]
        if exponential:
            base = 2 ** (2**-3)
            low, high = true / base, true * base  # the source bucket around the true value
        else:
            bounds = (0.0, *DEFAULT_BOUNDS, float("inf"))
            i = next(i for i, b in enumerate(bounds) if true <= b)
            low, high = bounds[i - 1], min(bounds[i], ordered[-1])
        tolerance = histograms.RESPONSE_TIME_BIN_MS
        assert low - tolerance <= got <= high + tolerance, (q, true, got)


def test_consumer_rows_carry_every_request(hub: Hub) -> None:
    reqs = [Requests("GET", "/x", 200, [0.01] * 3, "a"), Requests("GET", "/y", 200, [0.01] * 2, "a")]
    hub.post("metrics", apitally_export(reqs, str(uuid.uuid4()), MINUTE_NS).SerializeToString())
    level3 = hub.rows(metrics, metrics.c.level == LEVEL_CONSUMER_TOTAL)
    assert sum(r.request_count for r in level3) == 5


def test_a_status_code_that_is_no_integer_refuses_the_point(hub: Hub) -> None:
    """A bool is an int to Python: as a status code it once reached the database (a 500 on PostgreSQL)."""
    export = ExportMetricsServiceRequest.FromString(flask({("GET", "/items", 200): [0.01] * 2}, MINUTE_NS))
    changed = 0
    for resource in export.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.histogram.data_points:
                    for kv in point.attributes:
                        if kv.key in ("http.status_code", "http.response.status_code"):
                            kv.value.bool_value = False
                            changed += 1
    assert changed
    response = hub.post("metrics", export.SerializeToString())
    assert response.status_code == 200, response.text
    assert totals(hub) == {}


def test_nul_in_a_data_point_attribute_is_stored_as_a_replacement_character(hub: Hub) -> None:
    """PostgreSQL text cannot hold NUL (it was a DataError, a 500): attributes elsewhere get U+FFFD."""
    export = apitally_export(
        [Requests("GET", "/a\x00b/{id}", 200, [0.01], "c\x00d")], str(uuid.uuid4()), MINUTE_NS
    )
    response = hub.post("metrics", export.SerializeToString())
    assert response.status_code == 200, response.text
    (consumer,) = hub.rows(consumers)
    assert consumer.identifier == "c\ufffdd"
    assert {r.path for r in hub.rows(endpoints)} == {"/a\ufffdb/{id}"}
