"""Imported by the contract apps (run as scripts, so this folder is on sys.path) from either client."""

from __future__ import annotations

import time


def wait_for_log_capture(timeout: float = 10.0) -> None:
    """Wait until the official client has written every captured request log to its file: its loop
    does so about once a second, and its exit hook sends only what was written. Ours needs no wait
    (its exit flush writes the captures first), and this returns at once for it."""
    try:
        from apitally.client.client_asyncio import ApitallyClient as AsyncClient
        from apitally.client.client_threading import ApitallyClient as ThreadClient
    except ImportError:
        return
    deadline = time.monotonic() + timeout
    for kind in (ThreadClient, AsyncClient):
        try:
            logger = kind.get_instance().request_logger
        except RuntimeError:  # this kind of client was not started by the app
            continue
        while logger.write_deque and time.monotonic() < deadline:
            time.sleep(0.05)
