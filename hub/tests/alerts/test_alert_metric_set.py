"""The alert metrics are Apitally's 18; each new one fires and resolves exactly at the threshold
computed from the traffic and instance resources sent, on both engines, with the clock driven by the test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tallyhub.alerts import rule_spec
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.rule_metrics import METRICS
from tallyhub.ingest.v2 import translate
from tallyhub.ingest.v2.models import Sync
from tallyhub.ingest.writer import Writer
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_events
from tallyhub.storage.tables import alert_rules as alert_rules_table

from tests.support.alerts import T0, AlertWorld, alert_world
from tests.support.metric_rows import Req

# Apitally's "Available metrics" (docs.apitally.io, Alerting), in its order, as Tallyhub labels them.
APITALLY_METRICS = [
    ("requests_per_minute", "requests per minute"),
    ("requests", "total requests"),
    ("bytes_total", "data transferred (requests and responses)"),
    ("bytes_sent", "data sent (responses)"),
    ("bytes_received", "data received (requests)"),
    ("unique_consumers", "unique consumers"),
    ("errors", "errors (client and server errors)"),
    ("requests_4xx", "client errors (4xx)"),
    ("requests_5xx", "server errors (5xx)"),
    ("error_rate", "error rate"),
    ("p50", "p50 response time"),
    ("p75", "p75 response time"),
    ("p95", "p95 response time"),
    ("apdex", "Apdex score"),
    ("cpu_avg", "CPU utilization (avg across instances)"),
    ("cpu_max", "CPU utilization (max across instances)"),
    ("memory_avg", "memory usage (avg across instances)"),
    ("memory_max", "memory usage (max across instances)"),
]
SYNC = json.loads((Path(__file__).parents[1] / "ingest" / "data" / "python_flask_sync.json").read_text())


def test_the_metric_list_is_apitallys_18() -> None:
    assert [(key, m.label) for key, m in METRICS.items()] == APITALLY_METRICS


@pytest.mark.parametrize("metric", ["p99", "instance_cpu", "instance_memory", "latency"])
def test_metrics_outside_the_18_are_refused(metric: str) -> None:
    form = {"name": "r", "env": "prod", "metric": metric, "comparison": ">", "threshold": "1"}
    with pytest.raises(rule_spec.RuleError) as caught:
        rule_spec.parse_form(form, ("prod",))
    assert caught.value.field == "metric"


def _rule_events(db: Database) -> list[tuple[int, str, float | None]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(alert_events.c.rule_id, alert_events.c.kind, alert_events.c.value).order_by(
                alert_events.c.id
            )
        )
        return [(rule_id, kind, value) for rule_id, kind, value in rows]


def _at_and_above(world: AlertWorld, metric: str, threshold: float) -> tuple[int, int]:
    """Two rules over 5 minutes: value >= threshold, and value >= just above it."""
    common = {"metric": metric, "window_seconds": 300, "interval_seconds": 60, "comparison": ">="}
    at = world.rule(name="at", threshold=repr(threshold), **common)
    above = world.rule(name="above", threshold=repr(threshold * (1 + 1e-9) + 1e-9), **common)
    return at, above


def _fires_at_threshold_then_resolves(world: AlertWorld, metric: str, expected: float) -> None:
    at, above = _at_and_above(world, metric, expected)
    world.tick()
    events = _rule_events(world.db)
    assert [(rule, kind) for rule, kind, _ in events] == [(at, "fired")]
    assert events[0][2] == pytest.approx(expected, rel=1e-12)
    with world.db.read() as conn:
        just_above = alert_rules.get(conn, above)
    assert just_above is not None and just_above.state == "ok"
    assert just_above.last_value == pytest.approx(expected, rel=1e-12)  # measured the same, not breaching
    # Six minutes on, the window holds nothing that was sent: the rule resolves.
    world.tick(6 * 60)
    assert [(rule, kind) for rule, kind, _ in _rule_events(world.db)] == [(at, "fired"), (at, "resolved")]


def _requests(count: int, start: float, status: int, request_size: int, response_size: int) -> list[Req]:
    return [
        Req(start + i, "GET", "/items", status, request_size=request_size, response_size=response_size)
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("errors", 3 + 2),  # 4xx and 5xx; the 200s are not errors
        ("bytes_total", 10 * (1_000 + 3_000)),  # received and sent, of every request
    ],
)
def test_traffic_metrics_fire_and_resolve_at_the_threshold_sent(
    db: Database, metric: str, expected: float
) -> None:
    world = alert_world(db)
    sent = (
        _requests(5, T0 - 200, 200, 1_000, 3_000)
        + _requests(3, T0 - 150, 404, 1_000, 3_000)
        + _requests(2, T0 - 100, 500, 1_000, 3_000)
    )
    world.writer.write(sent)
    world.writer.write(_requests(7, T0 - 3600, 500, 5_000, 5_000))  # long before the window: not counted
    recomputed = {
        "errors": sum(1 for r in sent if r.status >= 400),
        "bytes_total": sum((r.request_size or 0) + (r.response_size or 0) for r in sent),
    }[metric]
    assert recomputed == expected
    _fires_at_threshold_then_resolves(world, metric, float(expected))


def _sync(instance: str, cpu: float, memory: int, at: float) -> Any:
    data = {
        **SYNC,
        "instance_uuid": instance,
        "message_uuid": str(uuid.uuid4()),
        "timestamp": at,
        "resources": {"cpu_percent": cpu, "memory_rss": memory},
    }
    return translate.sync(Sync.model_validate(data))


# (instance, seconds before T0, cpu %, memory bytes): samples sent by real syncs through the writer.
SAMPLES = [
    ("a", 230, 20.0, 100_000_000),  # the window at T0 is its minute and the 4 before: [T0 - 240, T0 + 60)
    ("a", 130, 40.0, 200_000_000),
    ("b", 70, 75.5, 630_000_000),
    ("b", 10, 12.5, 70_000_000),
]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("cpu_avg", (20.0 + 40.0 + 75.5 + 12.5) / 4),
        ("cpu_max", 75.5),
        ("memory_avg", (100 + 200 + 630 + 70) / 4),  # MB
        ("memory_max", 630.0),
    ],
)
def test_instance_metrics_fire_and_resolve_at_the_threshold_sent(
    db: Database, metric: str, expected: float
) -> None:
    world = alert_world(db)
    clock = [T0]
    writer = Writer(db, clock=lambda: clock[0])
    instances = {"a": str(uuid.uuid4()), "b": str(uuid.uuid4())}
    outside = [("a", 3600, 99.0, 9_000_000_000), ("b", 250, 98.0, 8_000_000_000)]  # minutes before the window
    for name, before, cpu, memory in [*SAMPLES, *outside]:
        clock[0] = T0 - before
        assert writer.store(world.app_id, "prod", _sync(instances[name], cpu, memory, clock[0]))
    cpu = [s[2] for s in SAMPLES]
    memory_mb = [s[3] / 1_000_000 for s in SAMPLES]
    recomputed = {
        "cpu_avg": sum(cpu) / len(cpu),
        "cpu_max": max(cpu),
        "memory_avg": sum(memory_mb) / len(memory_mb),
        "memory_max": max(memory_mb),
    }[metric]
    assert recomputed == pytest.approx(expected)
    _fires_at_threshold_then_resolves(world, metric, recomputed)


def test_instance_metrics_ignore_other_envs(db: Database) -> None:
    world = alert_world(db)
    clock = [T0 - 30]
    writer = Writer(db, clock=lambda: clock[0])
    assert writer.store(world.app_id, "dev", _sync(str(uuid.uuid4()), 90.0, 900_000_000, clock[0]))
    assert writer.store(world.app_id, "prod", _sync(str(uuid.uuid4()), 10.0, 100_000_000, clock[0]))
    world.rule(metric="cpu_max", window_seconds=300, comparison=">", threshold=50)
    world.tick()
    assert _rule_events(db) == []


def test_a_stored_p99_rule_is_still_checked_but_must_pick_another_metric_when_saved(db: Database) -> None:
    world = alert_world(db)
    rule_id = world.rule(metric="p95", window_seconds=300, comparison=">", threshold=500)
    with db.write() as conn:  # as a rule made before the metric list became Apitally's
        conn.execute(alert_rules_table.update().values(metric="p99"))
    world.writer.write([Req(T0 - 60 + i, "GET", "/items", 200, response_time_ms=900) for i in range(10)])
    world.tick()
    assert [kind for kind, _ in world.events()] == ["fired"]
    with db.read() as conn:
        rule = alert_rules.get(conn, rule_id)
    assert rule is not None and rule.last_value == pytest.approx(909, abs=1)  # 99 % into the 900 ms bin
    form = {"name": rule.name, "env": "prod", "metric": "p99", "comparison": ">", "threshold": "500"}
    with pytest.raises(rule_spec.RuleError):
        rule_spec.parse_form(form, ("prod",))
