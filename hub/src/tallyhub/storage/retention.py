"""Deletion of rows older than the retention settings (placeholder until ingestion lands)."""

from tallyhub.settings import Settings
from tallyhub.storage.database import Database


def run(db: Database, settings: Settings, now: float) -> None:
    """Delete rows past their retention."""
