"""FastAPI dependencies shared by the ingest, API and web layers."""

from __future__ import annotations

from fastapi import Request

from tallyhub.outbound.policy import Policy
from tallyhub.settings import Settings
from tallyhub.storage.database import Database


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_policy(request: Request) -> Policy:
    """The hub's outbound policy (built once from the settings by the application factory)."""
    policy: Policy = request.app.state.outbound_policy
    return policy
