"""Query and path parameters shared by the read-API routes, and the 422 for values they cannot take."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError

from tallyhub.analytics.query import InvalidParameter

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1
_TIME = "ISO 8601 (e.g. 2026-11-26T10:00:00Z; no zone = UTC) or epoch seconds."

AppId = Annotated[int, Path(ge=1, le=MAX_INT32, description="The app's id (GET /apps).")]
Env = Annotated[str | None, Query(description="Environment name; omitted = all envs combined.")]
Start = Annotated[str | None, Query(description=f"Start (inclusive), {_TIME} Default: end - 24 h.")]
End = Annotated[str | None, Query(description=f"End (exclusive), {_TIME} Default: now.")]
Interval = Annotated[
    Literal["minute", "hour", "day"] | None,
    Query(description="Bucket size; default minute up to 6 h, hour up to 14 d, else day."),
]
ConsumerQ = Annotated[str | None, Query(description="Consumer identifier.")]
Group = Annotated[str | None, Query(description="Consumer group name.")]
Method = Annotated[str | None, Query(description="HTTP method, any case.")]
PathQ = Annotated[
    str | None,
    Query(
        description="Route template in any framework syntax ({id}, <id>, :id), or a wildcard pattern: "
        "* is any characters within one segment (/items/* matches /items/{id}), ** any number of "
        "segments (/v1/**)."
    ),
]
Status = Annotated[str | None, Query(description='A status code ("404") or class ("4xx").')]
ApdexT = Annotated[
    int | None,
    Query(
        ge=1,
        le=600_000,
        description="Apdex T (ms) of endpoints without their own T; default the app's, else the setting.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Offset = Annotated[
    int, Query(ge=0, le=10_000_000, description="Items to skip (the total is in X-Total-Count).")
]
Direction = Annotated[
    Literal["asc", "desc"] | None, Query(description="Sort direction; default per sort key.")
]
Before = Annotated[int | None, Query(ge=1, le=MAX_INT64, description="Return items older than this id.")]


@contextmanager
def as_422(location: str = "query") -> Iterator[None]:
    """Turn InvalidParameter into FastAPI's 422, whose detail names the parameter in `loc`."""
    try:
        yield
    except InvalidParameter as exc:
        error = {"type": "value_error", "loc": (location, exc.param), "msg": exc.message, "input": exc.value}
        raise RequestValidationError([error]) from None


def invalid_field(location: str, field: str, message: str, value: object) -> RequestValidationError:
    """FastAPI's 422 for one field that passed its type but not the hub's own validation."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (location, field), "msg": message, "input": value}]
    )
