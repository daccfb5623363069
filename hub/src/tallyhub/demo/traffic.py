"""The demo's traffic: several consumers in groups calling the demo API, with slow calls and errors."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from typing import Any

CONSUMERS = (
    ("acme-corp", "Acme Corp", "Partners"),
    ("globex", "Globex", "Partners"),
    ("initech", "Initech", "Partners"),
    ("ios-app", "iOS app", "Mobile"),
    ("android-app", "Android app", "Mobile"),
    ("billing-job", "Billing job", "Internal"),
    ("ops-dashboard", "Ops dashboard", "Internal"),
    ("trial-4821", None, None),
)
# (weight, method, path, body) — paths are filled with random ids.
CALLS: tuple[tuple[int, str, str, dict[str, Any] | None], ...] = (
    (30, "GET", "/items", None),
    (30, "GET", "/items/{id}", None),
    (8, "POST", "/items", {"name": "widget"}),
    (3, "POST", "/items", {}),
    (4, "GET", "/reports/{report}", None),
    (6, "POST", "/payments", {"amount": 42}),
    (2, "GET", "/admin/stats", None),
)


def _one(base_url: str, rnd: random.Random) -> None:
    _, method, path, body = rnd.choices(CALLS, weights=[c[0] for c in CALLS])[0]
    url = base_url + path.format(id=rnd.randint(1, 1000), report=rnd.choice(("daily", "weekly", "usage")))
    headers = {"Content-Type": "application/json"}
    if rnd.random() < 0.85:  # some requests come without a consumer
        identifier, name, group = rnd.choice(CONSUMERS)
        headers["X-Consumer-Id"] = identifier
        if name:
            headers["X-Consumer-Name"] = name
        if group:
            headers["X-Consumer-Group"] = group
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.read()  # 4xx and 5xx are part of the demo
    except OSError:
        pass  # the API is starting or stopping


def run(
    base_url: str, stop: threading.Event, workers: int = 4, pause: float = 0.15
) -> list[threading.Thread]:
    """Start `workers` threads sending requests to `base_url` until `stop` is set."""

    def loop(seed: int) -> None:
        rnd = random.Random(seed)
        while not stop.is_set():
            _one(base_url, rnd)
            stop.wait(rnd.uniform(0, 2 * pause))

    threads = [
        threading.Thread(target=loop, args=(i,), daemon=True, name=f"demo-traffic-{i}")
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    return threads
