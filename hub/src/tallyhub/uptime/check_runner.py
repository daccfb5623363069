"""Running health checks: claim the due ones, call their URLs, store results, open and close incidents.

Several hub processes may look for due checks at once. Each claims a check by moving its next_run_at
forward with a conditional UPDATE (… WHERE next_run_at = the value it saw): only one UPDATE matches, so
each check runs once per interval across all processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
import sqlalchemy as sa

from tallyhub.storage.database import Database
from tallyhub.storage.tables import health_check_results, health_checks
from tallyhub.uptime.incidents import HEALTH_CHECK, close_incident, open_incident

MAX_CONCURRENT = 20  # checks called at once by one process
RETRY_DELAY_SECONDS = 1.0  # a failure is retried once, after this pause, before it counts
BODY_EXCERPT_CHARS = 500
MAX_BODY_BYTES = 1_000_000  # read at most this much of a response to look for the expected text


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check run: ok, or the failing request as seen on its last attempt."""

    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None
    body_excerpt: str | None
    attempts: int


def claim_due(db: Database, now: float) -> list[sa.Row[Any]]:
    """The due, unpaused checks this process won the claim of (their next run moved one interval on)."""
    with db.read() as conn:
        due = conn.execute(
            sa.select(health_checks).where(
                health_checks.c.paused.is_(False), health_checks.c.next_run_at <= now
            )
        ).all()
    claimed = []
    for check in due:
        # Keep the cadence (seen + interval) unless the hub was idle for longer than an interval.
        following = check.next_run_at + check.interval_seconds
        if following <= now:
            following = now + check.interval_seconds
        with db.write() as conn:
            won = conn.execute(
                health_checks.update()
                .where(health_checks.c.id == check.id, health_checks.c.next_run_at == check.next_run_at)
                .values(next_run_at=following)
            ).rowcount
        if won:
            claimed.append(check)
    return claimed


async def _attempt(client: httpx.AsyncClient, check: sa.Row[Any]) -> CheckResult:
    started = time.perf_counter()
    try:
        async with client.stream(check.method, check.url, timeout=check.timeout_seconds) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_BODY_BYTES:
                    break
    except httpx.TimeoutException:
        return CheckResult(False, None, _ms(started), f"timed out after {check.timeout_seconds:g} s", None, 1)
    except Exception as exc:  # whatever goes wrong calling the URL (InvalidURL too) is the check failing
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return CheckResult(False, None, _ms(started), error, None, 1)
    latency = _ms(started)
    text = body.decode(response.encoding or "utf-8", errors="replace")
    excerpt = text[:BODY_EXCERPT_CHARS]
    if response.status_code != check.expected_status:
        error = f"status {response.status_code}, expected {check.expected_status}"
        return CheckResult(False, response.status_code, latency, error, excerpt, 1)
    if check.body_contains and check.body_contains not in text:
        error = f"the body does not contain {check.body_contains!r}"
        return CheckResult(False, response.status_code, latency, error, excerpt, 1)
    return CheckResult(True, response.status_code, latency, None, None, 1)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def probe(
    client: httpx.AsyncClient, check: sa.Row[Any], retry_delay: float = RETRY_DELAY_SECONDS
) -> CheckResult:
    """Call the check's URL; a failure is retried once and only the second failure counts."""
    first = await _attempt(client, check)
    if first.ok:
        return first
    await asyncio.sleep(retry_delay)
    second = await _attempt(client, check)
    return dataclasses.replace(second, attempts=2)


def record(db: Database, check: sa.Row[Any], result: CheckResult, checked_at: float) -> None:
    """Store the result; a failure opens the check's incident (once), a success closes it."""
    with db.write() as conn:
        conn.execute(
            health_check_results.insert().values(
                check_id=check.id,
                checked_at=checked_at,
                ok=result.ok,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=result.error,
                attempts=result.attempts,
            )
        )
        if result.ok:
            close_incident(conn, check.env_id, HEALTH_CHECK, check.id, checked_at)
            return
        details = {
            "url": check.url,
            "method": check.method,
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
            "error": result.error,
            "body": result.body_excerpt,
            "attempts": result.attempts,
        }
        cause = f"Health check {check.method} {check.url} failed: {result.error}."
        open_incident(conn, check.env_id, HEALTH_CHECK, check.id, checked_at, cause, details)


async def _run_all(db: Database, checks: list[sa.Row[Any]], checked_at: float, retry_delay: float) -> None:
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def one(client: httpx.AsyncClient, check: sa.Row[Any]) -> None:
        async with limit:
            result = await probe(client, check, retry_delay)
        # Database writes block: keep them off this loop so other checks' latencies stay honest.
        await asyncio.to_thread(record, db, check, result, checked_at)

    # No redirects followed: a check states the status it expects, 3xx included. No proxies from
    # the environment: a check calls the URL as written.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        await asyncio.gather(*(one(client, check) for check in checks))


def run_due(db: Database, now: float, retry_delay: float = RETRY_DELAY_SECONDS) -> int:
    """Claim and run every check due at `now` (in this thread's own event loop); returns how many ran."""
    checks = claim_due(db, now)
    if checks:
        asyncio.run(_run_all(db, checks, now, retry_delay))
    return len(checks)
