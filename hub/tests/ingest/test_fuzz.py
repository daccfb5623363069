"""Property: whatever arrives at /v2, the hub answers 202, 413 or 422 with a JSON body, never a 500.

Bodies are valid captured payloads with random parts replaced by random JSON, or random bytes; request-log
uploads are random bytes, or gzip files of mutated lines. The app runs in-process on a real database, with
app exceptions raised into the test (so a crash fails it even where a server would hide it behind a 500).
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallyhub.app import create_app
from tallyhub.ingest.writer import Writer
from tallyhub.settings import load_settings
from tallyhub.storage import apps
from tallyhub.storage.database import Database

DATA = Path(__file__).parent / "data"
PAYLOADS = {
    "sync": [
        json.loads((DATA / n).read_text()) for n in ("python_flask_sync.json", "node_express_sync.json")
    ],
    "startup": [
        json.loads((DATA / n).read_text()) for n in ("python_flask_startup.json", "node_express_startup.json")
    ],
}
LOG_LINES = [
    json.loads(line)
    for name in ("python_log.ndjson", "node_log.ndjson")
    for line in (DATA / name).read_text().splitlines()
]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

strings = st.text(max_size=40) | st.sampled_from(
    ["", "\x00", "a\x00b", "GET", "get", "ß" * 16, "/*" * 600, "x" * 2000, "2026-01-01", "{}", "\ud7ff"]
)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.sampled_from([0, -1, 2**63, 2**53])
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: json.dumps writes them as NaN/Infinity
    | st.text(max_size=40)
    | st.sampled_from(["", "\x00", "GET", "get", "ß" * 16, "/*" * 600, "2026-01-01", "-1", "1e400", "{}"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_in(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_in(child, (*prefix, index))
    return found


def leaves_in(value: Any) -> list[tuple[Any, ...]]:
    return [p for p in paths_in(value) if p and not isinstance(_at(value, p), dict | list)]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """`original` with a leaf replaced by a value of its type, then up to two random structural changes."""
    value = copy.deepcopy(original)
    leaves = leaves_in(value)
    if leaves:
        path = draw(st.sampled_from(leaves))
        current = _at(value, path)
        # A value of the same JSON type mostly passes validation, so it reaches storage.
        same_type = (
            strings if isinstance(current, str) else numbers if isinstance(current, int | float) else scalars
        )
        _at(value, path[:-1])[path[-1]] = draw(same_type)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(paths_in(value)))
        if not path:
            value = draw(json_values)
            break
        parent = _at(value, path[:-1])
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return value


class Hub:
    def __init__(self, db: Database) -> None:
        self.app = create_app(load_settings({"max_log_bytes": 200_000}), db, run_maintenance=False)
        # The hub's clock when the captured payloads were sent: their times are then within the window,
        # so mutations reach the writer rather than stopping at the window check.
        self.app.state.ingest_writer = Writer(db, clock=lambda: 1795715400.0)
        self.client_id = apps.create_app(db, "Fuzz", ("prod",)).client_id

    def post(self, path: str, body: bytes, env: str = "prod") -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)  # app exceptions propagate into the test
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.post(f"/v2/{self.client_id}/{env}/{path}", content=body)

        response = asyncio.run(send())
        assert response.status_code in (202, 413, 422), (response.status_code, response.text)
        assert isinstance(response.json(), dict)
        return response


@pytest.fixture
def asgi(db: Database) -> Hub:
    return Hub(db)


def as_body(value: Any) -> bytes:
    if isinstance(value, dict) and "message_uuid" in value and isinstance(value["message_uuid"], str):
        value["message_uuid"] = str(uuid.uuid4())  # a fresh message, so it is parsed and stored
    return json.dumps(value).encode()


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["sync", "startup"]))
def test_mutated_payloads_never_crash(asgi: Hub, data: st.DataObject, kind: str) -> None:
    original = data.draw(st.sampled_from(PAYLOADS[kind]))
    asgi.post(kind, as_body(data.draw(mutated(original))))


@FUZZ
@given(body=st.binary(max_size=300), kind=st.sampled_from(["sync", "startup"]), env=st.text(max_size=40))
def test_random_bytes_never_crash(asgi: Hub, body: bytes, kind: str, env: str) -> None:
    if not env.strip("./") or "/" in env:
        env = "prod"  # these would not reach the route at all
    asgi.post(kind, body, env=urllib.parse.quote(env, safe=""))


@FUZZ
@given(data=st.data())
def test_request_log_files_never_crash(asgi: Hub, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["bytes", "gzip-bytes", "lines"]))
    if kind == "bytes":
        body = data.draw(st.binary(max_size=300))
    elif kind == "gzip-bytes":
        body = gzip.compress(data.draw(st.binary(max_size=300)))
    else:
        lines = data.draw(st.lists(st.sampled_from(LOG_LINES), min_size=1, max_size=4))
        mutated_lines = [data.draw(mutated(line)) for line in lines]
        text = "".join(json.dumps(line) + "\n" for line in mutated_lines).encode()
        body = gzip.compress(text)
    asgi.post(f"log?uuid={uuid.uuid4()}", body)
