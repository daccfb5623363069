"""An HTTP proxy between a client and the hub that can lose the hub's answer to a sync.

It forwards each POST to the hub; for the first `drop` syncs that carry request counts, it calls
`on_drop` (e.g. to SIGKILL the hub) and closes the connection instead of passing the hub's answer
back. The client then sees a connection error for a payload the hub has stored, and retries it with
the same message_uuid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclasses.dataclass(frozen=True)
class Forwarded:
    path: str
    message_uuid: str | None
    hub_status: int
    dropped: bool
    retry_after: str | None = None  # the hub's Retry-After header, if any
    at: float = 0.0  # when the hub's answer was passed on to the client, or dropped (epoch seconds)
    body_sha256: str = ""  # of the body as sent: a retry of the same body has the same one


def sync_with_requests(path: str, body: bytes) -> bool:
    """A Hub v2 sync carrying request counts: the kind of payload whose answer is worth losing."""
    return path.endswith("/sync") and bool(json.loads(body).get("requests"))


# What an OTLP sender's export needs forwarded (its token, env and gzip encoding).
OTLP_HEADERS = ("content-type", "content-encoding", "authorization", "apitally-env", "user-agent")


class LossyProxy:
    def __init__(
        self,
        hub_url: str,
        drop: int = 1,
        on_drop: Callable[[], None] = lambda: None,
        droppable: Callable[[str, bytes], bool] = sync_with_requests,
        headers: tuple[str, ...] = ("content-type",),
    ) -> None:
        """`droppable(path, body)` says which POSTs count towards `drop`; `headers` are those forwarded."""
        self.hub_url = hub_url
        self.drop = drop
        self.on_drop = on_drop
        self.droppable = droppable
        self.headers = headers
        self.forwarded: list[Forwarded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> LossyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _should_drop(self, path: str, body: bytes) -> tuple[str | None, bool]:
        droppable = self.droppable(path, body)
        with self._lock:
            drop = droppable and self.drop > 0
            self.drop -= drop
        message_uuid = json.loads(body).get("message_uuid") if path.endswith("/sync") else None
        return message_uuid, drop

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() in proxy.headers}
                try:
                    answer = httpx.post(proxy.hub_url + self.path, content=body, headers=headers, timeout=30)
                except httpx.HTTPError:
                    self.close_connection = True  # the hub is unreachable: so is the proxy
                    return
                message_uuid, drop = proxy._should_drop(self.path, body)
                if not drop:
                    self.send_response(answer.status_code)
                    for name in ("content-type", "retry-after", "apitally-export-interval"):
                        if name in answer.headers:
                            self.send_header(name, answer.headers[name])
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                    self.wfile.flush()
                # Recorded once the client has the answer (or lost it), so a test that sees it can
                # expect the client to act on it.
                with proxy._lock:
                    proxy.forwarded.append(
                        Forwarded(
                            self.path,
                            message_uuid,
                            answer.status_code,
                            drop,
                            answer.headers.get("retry-after"),
                            time.time(),
                            hashlib.sha256(body).hexdigest(),
                        )
                    )
                if drop:
                    proxy.on_drop()
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
