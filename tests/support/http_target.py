"""A real HTTP server on localhost to point health checks at, whose answers a test changes at will."""

from __future__ import annotations

import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Behaviour:
    status: int = 200
    body: str = "ok: all systems go"
    delay: float = 0.0  # seconds before answering (longer than a check's timeout = a timeout)
    fail_next: int = 0  # answer this many requests with 503 first, then normally


class HttpTarget:
    """Serves every method and path per `behaviour`; counts requests; can go down (stop) and come back."""

    def __init__(self, port: int = 0) -> None:
        self.behaviour = Behaviour()
        self.hits = 0
        self.hit_times: list[float] = []  # time.time() of each request, in order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def start(self) -> None:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with target._lock:
                    target.hits += 1
                    target.hit_times.append(time.time())
                    failing = target.behaviour.fail_next > 0
                    if failing:
                        target.behaviour.fail_next -= 1
                    status = 503 if failing else target.behaviour.status
                    body, delay = target.behaviour.body.encode(), target.behaviour.delay
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the check gave up waiting (its timeout)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _answer

            def log_message(self, *_args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down: the port refuses connections until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
