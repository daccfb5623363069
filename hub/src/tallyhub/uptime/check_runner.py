"""Running health checks: claim the due ones, call their URLs, store results, open and close incidents.

Several hub processes may look for due checks at once. Each claims a check by moving its next_run_at
forward with a conditional UPDATE (… WHERE next_run_at = the value it saw): only one UPDATE matches, so
each check runs once per interval across all processes. Every call goes through the outbound guard
(tallyhub.outbound): a target the operator's policy refuses is a failing check that called nothing.
In the hub, checks run in a worker pool with a per-team share (`dispatch_due`), so hanging targets
of one team hold only that team's share; `run_due` runs them in the caller's thread (tests, CLI).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from tallyhub.outbound.guard import PEER_EXTENSION, GuardedTransport
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.storage.database import Database
from tallyhub.storage.tables import apps, envs, health_check_results, health_checks
from tallyhub.uptime.checks import MAX_TIMEOUT_SECONDS
from tallyhub.uptime.incidents import HEALTH_CHECK, close_incident, open_incident

MAX_CONCURRENT = 20  # checks called at once by run_due
RETRY_DELAY_SECONDS = 1.0  # a failure is retried once, after this pause, before it counts
BODY_EXCERPT_CHARS = 500
MAX_BODY_BYTES = 1_000_000  # read at most this much of a response to look for the expected text
MAX_HEADERS = 50  # response headers kept with a failure, each value cut to HEADER_CHARS
HEADER_CHARS = 500


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check run: ok, or the failing request as seen on its last attempt."""

    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None
    body_excerpt: str | None
    attempts: int
    headers: dict[str, str] | None = None


def claim_due(db: Database, now: float, busy: Callable[[int], bool] = lambda _id: False) -> list[sa.Row[Any]]:
    """The due, unpaused checks this process won the claim of (their next run moved one interval on),
    with their app's team_id; checks `busy` says are still running are left for a later tick."""
    with db.read() as conn:
        due = conn.execute(
            sa.select(health_checks, apps.c.team_id)
            .join(envs, envs.c.id == health_checks.c.env_id)
            .join(apps, apps.c.id == envs.c.app_id)
            .where(health_checks.c.paused.is_(False), health_checks.c.next_run_at <= now)
        ).all()
    claimed = []
    for check in due:
        if busy(check.id):
            continue
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


def timeout_of(check: sa.Row[Any]) -> float:
    """The check's timeout, capped (a check stored before the cap keeps within it too)."""
    return float(min(check.timeout_seconds, MAX_TIMEOUT_SECONDS))


async def _attempt(client: httpx.AsyncClient, check: sa.Row[Any], policy: Policy) -> CheckResult:
    started = time.perf_counter()
    timeout = timeout_of(check)
    try:
        # httpx's timeout bounds each read; this bounds the whole attempt (a server that drips bytes).
        async with asyncio.timeout(timeout):
            async with client.stream(check.method, check.url, timeout=timeout) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY_BYTES:
                        break
    except (httpx.TimeoutException, TimeoutError):
        return CheckResult(False, None, _ms(started), f"timed out after {timeout:g} s", None, 1)
    except Exception as exc:  # whatever goes wrong calling the URL (InvalidURL too) is the check failing
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return CheckResult(False, None, _ms(started), error, None, 1)
    latency = _ms(started)
    text = body.decode(response.encoding or "utf-8", errors="replace")
    # A body is shown only from a target the policy allowed (the address the guard connected to).
    peer = response.extensions.get(PEER_EXTENSION)
    shown = peer is not None and policy.excerpt_allowed(response.request.url.host, peer)
    excerpt = text[:BODY_EXCERPT_CHARS] if shown else None
    headers = {k: v[:HEADER_CHARS] for k, v in list(response.headers.items())[:MAX_HEADERS]}
    if response.status_code != check.expected_status:
        error = f"status {response.status_code}, expected {check.expected_status}"
        return CheckResult(False, response.status_code, latency, error, excerpt, 1, headers)
    if check.body_contains and check.body_contains not in text:
        error = f"the body does not contain {check.body_contains!r}"
        return CheckResult(False, response.status_code, latency, error, excerpt, 1, headers)
    return CheckResult(True, response.status_code, latency, None, None, 1, headers)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def client_for(policy: Policy) -> httpx.AsyncClient:
    """An httpx client whose every request (and redirect hop) goes through the outbound guard."""
    # No redirects followed: a check states the status it expects, 3xx included. No proxies from
    # the environment: a check calls the URL as written.
    return httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=False, trust_env=False)


async def probe(
    client: httpx.AsyncClient, check: sa.Row[Any], policy: Policy, retry_delay: float = RETRY_DELAY_SECONDS
) -> CheckResult:
    """Call the check's URL; a failure is retried once and only the second failure counts."""
    first = await _attempt(client, check, policy)
    if first.ok:
        return first
    await asyncio.sleep(min(retry_delay, RETRY_DELAY_SECONDS))
    second = await _attempt(client, check, policy)
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
            "headers": result.headers,
            "attempts": result.attempts,
        }
        cause = f"Health check {check.method} {check.url} failed: {result.error}."
        open_incident(conn, check.env_id, HEALTH_CHECK, check.id, checked_at, cause, details)


async def _run_all(
    db: Database, checks: list[sa.Row[Any]], checked_at: float, policy: Policy, retry_delay: float
) -> None:
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def one(client: httpx.AsyncClient, check: sa.Row[Any]) -> None:
        async with limit:
            result = await probe(client, check, policy, retry_delay)
        # Database writes block: keep them off this loop so other checks' latencies stay honest.
        await asyncio.to_thread(record, db, check, result, checked_at)

    async with client_for(policy) as client:
        await asyncio.gather(*(one(client, check) for check in checks))


def run_due(db: Database, now: float, policy: Policy, retry_delay: float = RETRY_DELAY_SECONDS) -> int:
    """Claim and run every check due at `now` (in this thread's own event loop); returns how many ran."""
    checks = claim_due(db, now)
    if checks:
        asyncio.run(_run_all(db, checks, now, policy, retry_delay))
    return len(checks)


def run_one(db: Database, check: sa.Row[Any], checked_at: float, policy: Policy, retry_delay: float) -> None:
    """Run one claimed check to its end and store the result (a pool worker's job)."""

    async def call() -> CheckResult:
        async with client_for(policy) as client:
            return await probe(client, check, policy, retry_delay)

    record(db, check, asyncio.run(call()), checked_at)


def dispatch_due(
    db: Database, now: float, pool: TeamPool, policy: Policy, retry_delay: float = RETRY_DELAY_SECONDS
) -> int:
    """Claim the checks due at `now` and hand each to `pool` under its team; returns how many were handed.

    Returns at once: a check still running from an earlier tick is not claimed again until it ends.
    """
    checks = claim_due(db, now, busy=lambda check_id: pool.busy(("check", check_id)))
    for check in checks:
        job = functools.partial(run_one, db, check, now, policy, retry_delay)
        pool.submit(int(check.team_id), ("check", check.id), job)
    return len(checks)
