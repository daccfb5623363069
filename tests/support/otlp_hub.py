"""An in-process hub with one app and its write token, for the OTLP receiver's tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import sqlalchemy as sa
from tallyhub.app import create_app
from tallyhub.settings import load_settings
from tallyhub.storage import apps, write_tokens
from tallyhub.storage.database import Database
from tallyhub.storage.tables import LEVEL_TOTAL, metrics

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MINUTE_NS = 1795715100 * 10**9


class Hub:
    """The hub app driven in-process through httpx's ASGI transport, with one app and its write token."""

    def __init__(self, db: Database, **settings: Any) -> None:
        self.db = db
        self.app = create_app(load_settings(settings), db, run_maintenance=False)
        self.app_id = apps.create_app(db, "Shop", ("prod",)).id
        with db.write() as conn:
            self.token = write_tokens.create(conn, self.app_id, time.time(), 0)

    def post(self, signal: str, content: bytes, token: str | None = None, **headers: str) -> httpx.Response:
        sent = {**PROTOBUF, "Authorization": f"Bearer {token or self.token}", **headers}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                return await client.post(f"/v1/{signal}", content=content, headers=sent)

        return asyncio.run(send())

    def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(table).where(*where).order_by(*table.primary_key.columns)))


def totals(hub: Hub) -> dict[int, int]:
    result: dict[int, int] = {}
    for r in hub.rows(metrics, metrics.c.level == LEVEL_TOTAL):
        result[r.status_code] = result.get(r.status_code, 0) + r.request_count
    return result
