"""Real receivers for notifications: a JSON webhook (an HTTP server) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.hub_process import free_port


@dataclasses.dataclass
class Webhook:
    """An HTTP server on localhost recording every JSON body POSTed to it; `failing` answers 500."""

    port: int
    received: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    failing: bool = False

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def titles(self) -> list[str]:
        return [str(body.get("title")) for body in self.received]


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port())
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if hook.failing:
                self.send_response(500)
                self.end_headers()
                return
            with lock:
                hook.received.append(json.loads(body))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclasses.dataclass
class Mailbox:
    """An SMTP server (aiosmtpd) on localhost keeping every message it accepts."""

    port: int
    messages: list[email.message.EmailMessage] = dataclasses.field(default_factory=list)

    @property
    def apprise_url(self) -> str:
        # mailto:// (no TLS) to a plain local server, no login; the recipient in the path.
        return f"mailto://127.0.0.1:{self.port}/ops@example.com?from=hub@example.com&smtp=127.0.0.1"

    def subjects(self) -> list[str]:
        return [str(m["subject"]) for m in self.messages]

    def text(self, index: int) -> str:
        part = self.messages[index].get_body(("plain", "html"))
        assert part is not None
        return str(part.get_content())


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
