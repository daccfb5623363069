"""The /v2/{client_id}/{env}/startup|sync|log handlers (placeholder until ingestion lands)."""

from fastapi import APIRouter

router = APIRouter()
