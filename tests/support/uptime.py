"""Uptime test helpers: a clock the test moves, and instance syncs written as ingestion writes them."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa


@dataclasses.dataclass
class Clock:
    """An injectable clock: `clock()` is the time, `clock.advance(s)` moves it on."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def env_id(db: Any, app_id: int, env: str = "prod") -> int:
    from tallyhub.storage.apps import env_id_for

    with db.read() as conn:
        found = env_id_for(conn, app_id, env)
    assert found is not None
    return int(found)


def synced(db: Any, env: int, at: float, instance: str | None = None) -> str:
    """Record that an instance of the env synced at `at` (what ingestion stores); returns its uuid."""
    from tallyhub.storage.tables import instances

    instance = instance or str(uuid.uuid4())
    with db.write() as conn:
        updated = conn.execute(
            instances.update()
            .where(instances.c.env_id == env, instances.c.instance_uuid == instance)
            .values(last_sync_at=at)
        ).rowcount
        if not updated:
            conn.execute(
                instances.insert().values(
                    env_id=env, instance_uuid=instance, first_seen=at, last_startup_at=at, last_sync_at=at
                )
            )
    return instance


def incidents_of(db: Any, env: int) -> list[Any]:
    from tallyhub.storage.tables import incidents

    with db.read() as conn:
        return list(
            conn.execute(sa.select(incidents).where(incidents.c.env_id == env).order_by(incidents.c.id)).all()
        )
