"""A rule's page: what it watches and when it is checked, and its metric's recent values against the
threshold as a chart whose data equal the values recomputed from the traffic sent."""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from typing import Any

import pytest
from tallyhub.alerts import rules as alert_rules
from tallyhub.alerts.recent_values import POINTS
from tallyhub.storage import apps as app_store

from tests.support.metric_rows import MetricWriter, Req

RULE = {
    "name": "errors on prod",
    "env": "prod",
    "kind": "metric",
    "metric": "errors",
    "window_seconds": "300",
    "interval_seconds": "300",
    "comparison": ">",
    "threshold": "12",
}


@pytest.fixture
def world(web: Any) -> dict[str, Any]:
    web.user("mia@example.com", "Acme", "member")
    web.user("vic@example.com", "Acme", "viewer")
    web.user("eve@example.com", "Other", "admin")
    shop = app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))
    return {"shop": shop}


def _charts(page: str) -> dict[str, dict[str, Any]]:
    found = re.findall(r'id="chart-([\w-]+)" data-chart="([^"]*)"', page)
    return {name: json.loads(html.unescape(data)) for name, data in found}


def _create(web: Any, client: Any, app_id: int, **change: str) -> int:
    response = web.post(client, f"/apps/{app_id}/alerts", {**RULE, **change})
    assert response.status_code == 303, response.text
    with web.db.read() as conn:
        return max(r.id for r in alert_rules.of_app(conn, app_id))


def test_the_chart_holds_the_values_recomputed_from_the_traffic(web: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    now = time.time()
    # Over the last 5 hours, minute m ago: m % 7 requests (6 more in the last 90 minutes), two in three
    # of them errors (404 or 500);
    # dev traffic and an error-free endpoint mix in and must not count.
    sent = [
        Req(now - m * 60, "GET", "/items", (200, 404, 500)[i % 3])
        for m in range(5 * 60)
        for i in range(m % 7 + (6 if m < 90 else 0))
    ]
    writer = MetricWriter(web.db, shop.id)
    writer.write(sent)
    writer.write([Req(now - m * 60, "GET", "/items", 500, env="dev") for m in range(60)])
    mia = web.signed_in("mia@example.com")
    rule_id = _create(web, mia, shop.id)
    before = time.time()
    page = mia.get(f"/apps/{shop.id}/alerts/{rule_id}")
    after = time.time()
    assert page.status_code == 200
    chart = _charts(page.text)["rule-values"]
    times = chart["times"]
    assert len(times) == POINTS and before <= times[-1] <= after
    assert all(later - earlier == pytest.approx(300) for earlier, later in itertools.pairwise(times))
    (values, threshold) = chart["series"]
    assert values["label"] == "errors (client and server errors)"
    expected = []
    for at in times:
        end = (int(at) // 60 + 1) * 60  # a check's window: its minute and the 4 before
        expected.append(
            float(sum(1 for r in sent if end - 300 <= r.time // 60 * 60 < end and r.status >= 400))
        )
    assert values["values"] == expected
    assert any(v > 12 for v in expected) and any(v <= 12 for v in expected)  # both sides of the line
    assert threshold["values"] == [12.0] * POINTS and threshold["label"] == "threshold (> 12)"
    assert "errors (client and server errors) &gt; 12 over 5 min on <code>prod</code>" in page.text
    # Viewers see the page too; another team's admin does not.
    assert web.signed_in("vic@example.com").get(f"/apps/{shop.id}/alerts/{rule_id}").status_code == 200
    assert web.signed_in("eve@example.com").get(f"/apps/{shop.id}/alerts/{rule_id}").status_code == 404
    # The rules list links to the page.
    assert f'href="/apps/{shop.id}/alerts/{rule_id}"' in mia.get(f"/apps/{shop.id}/alerts").text


def test_a_rule_without_data_says_so_and_builtin_rules_have_no_chart(web: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    mia = web.signed_in("mia@example.com")
    quiet = _create(web, mia, shop.id, name="cpu", metric="cpu_max", threshold="90")
    page = mia.get(f"/apps/{shop.id}/alerts/{quiet}").text
    assert 'id="chart-rule-values-empty"' in page and "rule-values" not in _charts(page)
    down = _create(web, mia, shop.id, name="down", kind="env_down")
    page = mia.get(f"/apps/{shop.id}/alerts/{down}").text
    assert 'id="rule-values"' not in page and "Environment down" in page


def test_an_unknown_rule_is_a_404(web: Any, world: dict[str, Any]) -> None:
    mia = web.signed_in("mia@example.com")
    assert mia.get(f"/apps/{world['shop'].id}/alerts/999").status_code == 404
    assert mia.get(f"/apps/{world['shop'].id}/alerts/history").status_code == 200  # not taken for a rule id


def test_a_retired_metric_is_named_and_the_form_asks_for_another(web: Any, world: dict[str, Any]) -> None:
    from tallyhub.storage.tables import alert_rules as alert_rules_table

    shop = world["shop"]
    mia = web.signed_in("mia@example.com")
    rule_id = _create(web, mia, shop.id, metric="p95", threshold="500")
    with web.db.write() as conn:
        conn.execute(alert_rules_table.update().values(metric="p99"))
    assert "p99 response time (no longer offered)" in mia.get(f"/apps/{shop.id}/alerts").text
    assert "p99 response time (no longer offered)" in mia.get(f"/apps/{shop.id}/alerts/{rule_id}").text
    edit = mia.get(f"/apps/{shop.id}/alerts/{rule_id}/edit").text
    assert '<option value="" selected disabled>p99 response time (no longer offered): choose another' in edit
    options = re.findall(r'<select name="metric">(.*?)</select>', edit, re.S)[0]
    assert 'value="p99"' not in options and options.count("<option") == 18 + 1
