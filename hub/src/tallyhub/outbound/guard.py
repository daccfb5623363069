"""Enforcing the policy where connections are made, so that what was checked is what gets called.

Two seams. Health checks use httpx: `GuardedTransport` resolves and checks the host of every request
it sends (each redirect hop is a request of its own), then connects to the very address it checked,
keeping the name for the Host header and TLS, so DNS cannot change between check and connect.
Apprise's plugins open their own sockets (requests, smtplib, ...), so `guarded()` checks every name
resolution made while a send runs: the socket connects to the addresses the check returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from tallyhub.outbound.policy import Policy, Refused

PEER_EXTENSION = "tallyhub_peer"  # the address a response came from, in response.extensions


class BlockedConnection(OSError):
    """A name resolution during an Apprise send that the policy refuses (an OSError, as sockets raise)."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that refuses (httpx.ConnectError naming why) hosts the policy does not allow."""

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await asyncio.to_thread(self.policy.check, host, port)
        except Refused as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"{host} does not resolve: {exc}", request=request) from None
        address = addresses[0]
        if address != host:
            # Connect to the checked address; the Host header (set from the original URL) and the
            # TLS server name stay the host's.
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": host}
        response = await super().handle_async_request(request)
        response.extensions = {**response.extensions, PEER_EXTENSION: address}
        return response


_ACTIVE: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("tallyhub_outbound", default=None)
_install_lock = threading.Lock()
_original_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    infos = _original_getaddrinfo(host, port, *args, **kwargs)
    policy = _ACTIVE.get()
    if policy is None or host is None:
        return infos
    name = host.decode() if isinstance(host, bytes) else str(host)
    for info in infos:
        reason = policy.refusal(name, str(info[4][0]))
        if reason is not None:
            raise BlockedConnection(reason)
    return infos


def _install() -> None:
    # Only calls made inside guarded() are checked: the database driver and everything else the
    # process resolves are untouched (the context variable is unset for them).
    with _install_lock:
        if socket.getaddrinfo is not _guarded_getaddrinfo:
            socket.getaddrinfo = _guarded_getaddrinfo


@contextlib.contextmanager
def guarded(policy: Policy) -> Iterator[None]:
    """Within the block (and the threads Apprise starts with a copy of its context), name resolutions are
    checked against `policy`; a refused one raises BlockedConnection."""
    _install()
    token = _ACTIVE.set(policy)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
