"""The guard around client code on a request path: it logs and swallows the client's own faults."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("apitally")

# Tests set this (or APITALLY_STRICT=1) so that a fault in the client fails the test instead of
# being logged; in production a fault must never reach the host application.
STRICT = os.environ.get("APITALLY_STRICT", "") == "1"

_reported: set[str] = set()


def client_fault(exc: BaseException, where: str) -> None:
    """Report a fault of the client's own code: re-raised in strict mode, else logged once per place."""
    if STRICT:
        raise exc
    if where not in _reported:
        _reported.add(where)
        logger.error("Apitally client fault in %s (further faults here are not logged)", where, exc_info=exc)
