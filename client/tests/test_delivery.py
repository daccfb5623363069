"""Delivery to the hub: answers of PROTOCOL.md §1A, retries, the retry buffer, the bounded exit flush."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from apitally.client import delivery
from apitally.client.config import ClientConfig
from apitally.client.delivery import Payload, PayloadQueue
from apitally.client.logging_config import RequestLoggingConfig
from apitally.client.worker import ApitallyClient

CLIENT_ID = "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11"


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "BACKOFF_BASE", 0.01)


def make_client(url: str, **logging: Any) -> ApitallyClient:
    """A client whose worker is not started: the test runs its cycles."""
    config = ClientConfig.build(CLIENT_ID, "dev", url, None)
    # Nothing is captured for the log here: the integration's read_fields is never called.
    return ApitallyClient(config, RequestLoggingConfig(**logging), lambda: {"client": "python:test"}, tuple)


def count_one(client: ApitallyClient, path: str = "/a") -> None:
    client.requests.add(None, "GET", path, 200, 0.001, None, 10)


def test_startup_then_sync_with_ids(hub: Any) -> None:
    client = make_client(hub.url)
    count_one(client)
    client._cycle()
    assert [c["kind"] for c in hub.calls] == ["startup", "sync"]
    assert hub.calls[0]["headers"]["Content-Type"] == "application/json"
    startup, sync = hub.bodies("startup")[0], hub.bodies("sync")[0]
    assert startup["instance_uuid"] == sync["instance_uuid"] != startup["message_uuid"]
    client._cycle()
    assert [c["kind"] for c in hub.calls] == ["startup", "sync", "sync"]  # startup only once


def test_404_disables_the_client(hub: Any) -> None:
    hub.answers["startup"] = 404
    client = make_client(hub.url)
    client._cycle()
    assert not client.enabled
    client.shutdown(timeout=1)
    assert [c["kind"] for c in hub.calls] == ["startup"]


def test_422_drops_the_payload_without_retry(hub: Any) -> None:
    hub.answers["sync"] = 422
    client = make_client(hub.url)
    count_one(client)
    client._cycle()
    assert [c["kind"] for c in hub.calls] == ["startup", "sync"]
    assert len(client.queue) == 0 and client.enabled


def test_failures_are_retried_then_kept_and_sent_in_order(hub: Any) -> None:
    hub.answers["sync"] = 503
    client = make_client(hub.url)
    count_one(client, "/first")
    client._cycle()
    assert [c["kind"] for c in hub.calls].count("sync") == delivery.MAX_ATTEMPTS
    assert len(client.queue) == 1
    first_ids = {json.loads(c["body"])["message_uuid"] for c in hub.calls if c["kind"] == "sync"}
    assert len(first_ids) == 1  # the same message_uuid on every retry
    hub.answers["sync"] = 202
    count_one(client, "/second")
    client._cycle()
    accepted = hub.bodies("sync")[-2:]
    assert [s["requests"][0]["path"] for s in accepted] == ["/first", "/second"]
    assert accepted[0]["message_uuid"] in first_ids
    assert len(client.queue) == 0


def test_startup_is_retried_on_the_next_cycle(hub: Any) -> None:
    hub.answers["startup"] = 500
    client = make_client(hub.url)
    client._cycle()
    hub.answers["startup"] = 202
    client._cycle()
    startups = [c for c in hub.calls if c["kind"] == "startup"]
    assert len(startups) == delivery.MAX_ATTEMPTS + 1
    assert len({json.loads(c["body"])["message_uuid"] for c in startups}) == 1


def test_unreachable_hub_keeps_the_payload() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = make_client(f"http://127.0.0.1:{port}")
    count_one(client)
    client._cycle()
    assert len(client.queue) == 1 and client.enabled


@pytest.fixture
def garbage_hub() -> Iterator[str]:
    """A server that answers every connection with bytes that are not HTTP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x00\xffnot http at all\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_garbage_from_the_hub_is_a_retry(garbage_hub: str) -> None:
    client = make_client(garbage_hub)
    count_one(client)
    client._cycle()
    assert len(client.queue) == 1 and client.enabled


def test_exit_flush_is_bounded_when_the_hub_hangs() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        client = make_client(f"http://127.0.0.1:{silent.getsockname()[1]}")
        client.start()
        count_one(client)
        started = time.monotonic()
        client.shutdown(timeout=1.0)
        assert time.monotonic() - started < 3.0
    finally:
        silent.close()


def test_exit_flush_sends_what_is_left(hub: Any) -> None:
    client = make_client(hub.url)
    client.start()
    count_one(client)
    client.shutdown(timeout=5)
    assert sum(r["request_count"] for s in hub.bodies("sync") for r in s["requests"]) == 1


def test_queue_drops_payloads_older_than_an_hour() -> None:
    queue = PayloadQueue(max_age=3600)
    queue.put(Payload(time.time() - 3700, b"old"))
    queue.put(Payload(time.time(), b"new"))
    queue.expire()
    assert len(queue) == 1 and queue.peek() is not None and queue.peek().body == b"new"  # type: ignore[union-attr]
    assert queue.dropped == 1


def test_queue_is_bounded_in_bytes_oldest_first() -> None:
    queue = PayloadQueue(max_bytes=100)
    for i in range(5):
        queue.put(Payload(time.time(), bytes([i]) * 40))
    assert len(queue) == 2 and queue.dropped == 3
    assert queue.peek().body == bytes([3]) * 40  # type: ignore[union-attr]


def test_fork_gives_the_child_a_fresh_instance(hub: Any) -> None:
    import os

    client = make_client(hub.url)
    client.start()
    count_one(client)
    parent_uuid = client.instance_uuid  # the parent holds its slot (it syncs while the child runs)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what the at-fork hook left, then leave without atexit
        before_request = client._thread is not None
        client.check_process()  # what the middleware calls on the child's first request
        state = {
            "uuid": client.instance_uuid,
            "queued": len(client.queue),
            "counted": len(client.requests.take()),
            "worker": (not before_request) and client._thread is not None and client._thread.is_alive(),
        }
        os.write(write, json.dumps(state).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        child = json.loads(f.read())
    assert child == {"uuid": child["uuid"], "queued": 0, "counted": 0, "worker": True}
    assert child["uuid"] != parent_uuid == client.instance_uuid


def test_instance_uuid_is_kept_by_the_next_process_in_the_same_slot(hub: Any) -> None:
    first = make_client(hub.url)
    second = make_client(hub.url)  # a concurrent worker: another slot, another UUID
    assert first.instance_uuid != second.instance_uuid
    kept = first.instance_uuid
    first._slot()  # type: ignore[misc]  # the process ends: its lock goes
    restarted = make_client(hub.url)
    assert restarted.instance_uuid == kept
