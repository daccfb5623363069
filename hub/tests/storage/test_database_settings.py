"""Per-connection database settings the hub relies on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tallyhub.storage.database import Database


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # a PostgreSQL setting
def test_postgresql_connections_do_not_jit_compile(db: Database) -> None:
    """JIT compiling cost a 30-day dashboard query 150 ms of its 200 (storage.database._without_jit)."""
    for _ in range(2):  # a fresh and a pooled connection
        with db.read() as conn:
            assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
