"""The /api/v1 routes (placeholder until the read API lands)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
