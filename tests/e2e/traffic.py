"""The requests an e2e test sends, and a driver that sends them and notes the sizes on the wire."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import httpx


@dataclasses.dataclass(frozen=True)
class Consumer:
    identifier: str
    name: str | None = None
    group: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"X-Consumer-Id": self.identifier}
        if self.name:
            headers["X-Consumer-Name"] = self.name
        if self.group:
            headers["X-Consumer-Group"] = self.group
        return headers


@dataclasses.dataclass(frozen=True)
class ServerError:
    type: str
    msg: str


@dataclasses.dataclass(frozen=True)
class ValidationError:
    loc: tuple[str, ...]
    msg: str
    type: str


@dataclasses.dataclass(frozen=True)
class Call:
    """One request, with what the app is built to do with it.

    `route` is the route template the client should record (None: the URL matches no route, so the
    client does not count it); `error` is the unhandled exception the view raises; `validation` the
    validation error the client reads from the response.
    """

    method: str
    url: str
    route: str | None
    status: int
    consumer: Consumer | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    error: ServerError | None = None
    validation: ValidationError | None = None


@dataclasses.dataclass(frozen=True)
class Sent:
    """A call as it went over the wire: Content-Length of the request and of the response (None: none)."""

    call: Call
    request_size: int | None
    response_size: int | None


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None else None


def send(base_url: str, calls: Iterable[Call], keep_alive: bool = True) -> list[Sent]:
    """Send the calls one by one and check that each got the status the app is built to answer.

    keep_alive=False opens a connection per call (uvicorn drops the connection of a request that raised).
    """
    sent: list[Sent] = []
    limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base_url, timeout=30, limits=limits) as client:
        for call in calls:
            headers = call.consumer.headers() if call.consumer else {}
            if call.body is not None:
                headers["Content-Type"] = call.content_type
            response = client.request(call.method, call.url, content=call.body, headers=headers)
            assert response.status_code == call.status, (
                f"{call.method} {call.url} answered {response.status_code}, the app is built to answer "
                f"{call.status}: {response.text[:500]}"
            )
            sent.append(
                Sent(call, _content_length(response.request.headers), _content_length(response.headers))
            )
    return sent
