"""Delivering pending notifications through their channels, retried with backoff, each attempt made once.

An attempt is claimed by moving `next_attempt_at` past the time a send can take (a conditional UPDATE,
as for rules), so two hub processes never send the same notification. A failed attempt is retried
after BACKOFF; after MAX_ATTEMPTS the notification is marked failed, with its last error, and shown.
In the hub, attempts run in a worker pool with a per-team share (`dispatch`), so a channel that hangs
holds only its team's share of the senders, and rule evaluation never waits on a send.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging

import sqlalchemy as sa

from tallyhub.alerts import channel_urls as channels
from tallyhub.outbound.policy import Policy
from tallyhub.outbound.pool import TeamPool
from tallyhub.storage.database import Database
from tallyhub.storage.tables import alert_channels, alert_events, alert_notifications

log = logging.getLogger(__name__)
BACKOFF = (30.0, 120.0, 600.0, 1800.0)  # seconds before attempt 2, 3, 4, 5
MAX_ATTEMPTS = len(BACKOFF) + 1
CLAIM_SECONDS = 300.0  # longer than any send can take (Apprise's plugins time out well before)
MAX_PER_RUN = 100
_TYPES = {"fired": "failure", "resolved": "success"}


def _due(db: Database, now: float) -> list[tuple[int, float, int]]:
    """(notification id, next_attempt_at as seen, team of its channel) of the due attempts."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(
                alert_notifications.c.id, alert_notifications.c.next_attempt_at, alert_channels.c.team_id
            )
            .join(alert_channels, alert_channels.c.id == alert_notifications.c.channel_id)
            .where(alert_notifications.c.status == "pending", alert_notifications.c.next_attempt_at <= now)
            .order_by(alert_notifications.c.next_attempt_at, alert_notifications.c.id)
            .limit(MAX_PER_RUN)
        ).all()
    return [(int(i), float(at), int(team)) for i, at, team in rows]


def _claim(db: Database, notification_id: int, seen: float, now: float) -> bool:
    with db.write() as conn:
        result = conn.execute(
            alert_notifications.update()
            .where(
                alert_notifications.c.id == notification_id,
                alert_notifications.c.status == "pending",
                alert_notifications.c.next_attempt_at == seen,
            )
            .values(next_attempt_at=now + CLAIM_SECONDS, attempts=alert_notifications.c.attempts + 1)
        )
        return result.rowcount == 1


def _content(db: Database, notification_id: int) -> sa.Row | None:
    with db.read() as conn:
        return conn.execute(
            sa.select(
                alert_notifications.c.attempts,
                alert_channels.c.url,
                alert_events.c.kind,
                alert_events.c.title,
                alert_events.c.body,
            )
            .join_from(
                alert_notifications, alert_channels, alert_channels.c.id == alert_notifications.c.channel_id
            )
            .join(alert_events, alert_events.c.id == alert_notifications.c.event_id)
            .where(alert_notifications.c.id == notification_id)
        ).first()


def record_attempt(db: Database, notification_id: int, attempts: int, error: str | None, now: float) -> None:
    """Store an attempt's result: sent; or pending again after the backoff; or failed for good."""
    if error is None:
        values = {"status": "sent", "sent_at": now, "next_attempt_at": None, "last_error": None}
    elif attempts >= MAX_ATTEMPTS:
        values = {"status": "failed", "next_attempt_at": None, "last_error": error}
    else:
        values = {"status": "pending", "next_attempt_at": now + BACKOFF[attempts - 1], "last_error": error}
    with db.write() as conn:
        conn.execute(
            alert_notifications.update().where(alert_notifications.c.id == notification_id).values(**values)
        )


def _attempt(db: Database, notification_id: int, now: float, policy: Policy) -> None:
    """Make one claimed attempt and store its result."""
    content = _content(db, notification_id)
    if content is None:
        return
    error = channels.send(content.url, content.title, content.body, policy, _TYPES.get(content.kind, "info"))
    if error is not None:
        log.warning("notification %s: attempt %s failed: %s", notification_id, content.attempts, error)
    record_attempt(db, notification_id, int(content.attempts), error, now)


def run(db: Database, now: float, policy: Policy) -> int:
    """Make every due delivery attempt this process can claim, one after another; returns how many."""
    made = 0
    for notification_id, seen, _team in _due(db, now):
        if _claim(db, notification_id, seen, now):
            _attempt(db, notification_id, now, policy)
            made += 1
    return made


def dispatch(db: Database, now: float, pool: TeamPool, policy: Policy) -> int:
    """Claim every due attempt and hand it to `pool` under its channel's team; returns how many, at once."""
    made = 0
    for notification_id, seen, team_id in _due(db, now):
        key = ("notification", notification_id)
        if pool.busy(key) or not _claim(db, notification_id, seen, now):
            continue
        pool.submit(team_id, key, functools.partial(_attempt, db, notification_id, now, policy))
        made += 1
    return made


def send_test(db: Database, channel_id: int, url: str, now: float, policy: Policy) -> str | None:
    """Send a test message now and keep it in the channel's history; None when delivered, else the error."""
    error = channels.send(
        url,
        "Tallyhub test notification",
        "This is a test from Tallyhub: this channel receives alert notifications.",
        policy,
        "info",
    )
    with db.write() as conn:
        conn.execute(
            alert_notifications.insert().values(
                event_id=None,
                channel_id=channel_id,
                status="sent" if error is None else "failed",
                attempts=1,
                last_error=error,
                created_at=now,
                next_attempt_at=None,
                sent_at=now if error is None else None,
            )
        )
    return error


TEST_STILL_SENDING = (
    "the test notification is still being sent (or waits for a free sender); its result will show in "
    "the channel's history"
)


def submit_test(
    db: Database, pool: TeamPool, team_id: int, channel_id: int, url: str, now: float, policy: Policy
) -> concurrent.futures.Future[str | None] | None:
    """`send_test` in the delivery pool under the channel's team (never on a request thread); its future,
    or None when a test of this channel is already under way."""
    return pool.submit(team_id, ("test", channel_id), lambda: send_test(db, channel_id, url, now, policy))


# A test waits at most this long for its send (which Apprise ends within SEND_TIMEOUT_SECONDS).
TEST_WAIT_SECONDS = channels.SEND_TIMEOUT_SECONDS + 2.0
TEST_ALREADY_RUNNING = "a test notification of this channel is already being sent; try again in a moment"


async def await_test(
    db: Database, pool: TeamPool, team_id: int, channel_id: int, url: str, now: float, policy: Policy
) -> tuple[bool, str | None]:
    """Send a test in the pool and wait (without holding a thread) up to TEST_WAIT_SECONDS:
    (delivered, error); past the wait, (False, TEST_STILL_SENDING) and the send goes on."""
    future = submit_test(db, pool, team_id, channel_id, url, now, policy)
    if future is None:
        return False, TEST_ALREADY_RUNNING
    try:
        # shield: the send goes on (and is kept in the history) when this wait gives up.
        error = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), TEST_WAIT_SECONDS)
    except TimeoutError:
        return False, TEST_STILL_SENDING
    return error is None, error
