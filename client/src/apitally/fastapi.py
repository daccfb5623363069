"""FastAPI integration: `app.add_middleware(ApitallyMiddleware, client_id=..., env="dev")`.

FastAPI is Starlette underneath: the middleware is Starlette's (`apitally.starlette`), which also
reads FastAPI's effective route context and counts its 422 validation errors.
"""

from __future__ import annotations

from apitally.starlette import ApitallyConsumer, RequestLoggingConfig, set_consumer
from apitally.starlette import ApitallyMiddleware as _StarletteMiddleware

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig", "set_consumer"]


class ApitallyMiddleware(_StarletteMiddleware):
    """ASGI middleware that measures every request of a FastAPI app and syncs to the hub.

    A bad `client_id` or `env` is logged once and the middleware then passes requests through.
    """
