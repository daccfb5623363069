"""Same traffic through this client and the official apitally[django-ninja,django-rest-framework]
==0.25.1: same payloads.

As `test_contract` does for Flask: each client runs `apps/contract_django_app.py` (a Ninja API, a
REST framework viewset and a plain Django view) from its own interpreter against a recording hub
of its own. The comparison starts once both processes have exited, so after both clients' final
syncs, and adds every aggregate up over all syncs: how the traffic split across syncs does not
matter (each client syncs on its own clock), only the totals.
"""

from __future__ import annotations

from typing import Any

import pytest

from .contract import (
    assert_same_lines,
    both_clients,
    consumers,
    log_lines,
    merged_requests,
    server_errors,
    sync_shapes,
    validation_errors,
)

pytestmark = pytest.mark.e2e

APP = "contract_django_app.py"


def test_same_payloads_as_the_official_django_client(hub: Any) -> None:
    with both_clients(hub, APP) as official:
        compare(official, hub)


def compare(official: Any, ours: Any) -> None:
    (theirs_start,), (ours_start,) = official.bodies("startup"), ours.bodies("startup")
    assert set(ours_start) == set(theirs_start)
    assert sorted(map(str, ours_start["paths"])) == sorted(map(str, theirs_start["paths"]))
    paths = {(p["method"].upper(), p["path"]) for p in ours_start["paths"]}
    assert ("GET", "/api/never") in paths and ("GET", "/drf/widgets/{pk}/") in paths
    assert not any(path == "/plain/" for _, path in paths)
    assert ours_start["client"] == theirs_start["client"] == "python:django"
    for name in ("python", "django", "django-ninja", "djangorestframework", "app"):
        assert ours_start["versions"][name] == theirs_start["versions"][name]

    assert sync_shapes(ours.bodies("sync")) == sync_shapes(official.bodies("sync"))
    requests = merged_requests(ours)
    assert requests == merged_requests(official)
    # Ninja: items (alice, none), items 422, echo (200, 422), boom; REST framework: the list (dave),
    # one widget, its 500; not the 404 nor the plain view.
    assert len(requests) == 9
    assert sum(r["request_count"] for r in requests.values()) == 18
    assert server_errors(ours) == server_errors(official)
    assert {(k[2], k[3]) for k in server_errors(ours)} == {
        ("/api/boom", "builtins.ValueError"),
        ("/drf/widgets/{pk}/", "builtins.KeyError"),
    }
    # Ninja's 422s: password of the wrong type and data missing (twice each), item_id not an int.
    assert validation_errors(ours) == validation_errors(official)
    assert sorted(validation_errors(ours).values()) == [1, 2, 2]
    assert consumers(ours) == consumers(official) and consumers(ours)

    ours_lines, theirs_lines = log_lines(ours), log_lines(official)
    assert len(ours_lines) == len(theirs_lines) == 18
    assert_same_lines(ours_lines, theirs_lines)
