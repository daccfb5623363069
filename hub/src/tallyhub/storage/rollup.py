"""Rollup of minute metrics into hour and day rows (placeholder until ingestion lands)."""

from tallyhub.settings import Settings
from tallyhub.storage.database import Database


def run(db: Database, settings: Settings, now: float) -> None:
    """Merge closed minute rows into hour and day rows."""
