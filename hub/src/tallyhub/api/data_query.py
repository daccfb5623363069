"""The read API's data-request parameters as one dependency: documented here, parsed by analytics.query."""

from __future__ import annotations

import dataclasses
import inspect
import time
from typing import Annotated, Any

from fastapi import Depends

from tallyhub.analytics import query
from tallyhub.api.deps import get_settings
from tallyhub.api.params import (
    ApdexT,
    ConsumerQ,
    End,
    Env,
    Group,
    Interval,
    Method,
    PathQ,
    Start,
    Status,
    as_422,
)
from tallyhub.settings import Settings

PARAMS: dict[str, Any] = {
    "env": Env,
    "start": Start,
    "end": End,
    "interval": Interval,
    "consumer": ConsumerQ,
    "group": Group,
    "method": Method,
    "path": PathQ,
    "status": Status,
    "apdex_t": ApdexT,
}
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


class DataQuery:
    """A dependency taking the named query parameters and giving their Query; a 422 names a bad one."""

    def __init__(self, *names: str, max_buckets: int | None = None) -> None:
        self.max_buckets = max_buckets
        # FastAPI reads what a dependency takes from its signature: the settings and the route's parameters,
        # so that the OpenAPI schema documents each route's own.
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    "settings", _KEYWORD, annotation=Annotated[Settings, Depends(get_settings)]
                ),
                *(inspect.Parameter(name, _KEYWORD, default=None, annotation=PARAMS[name]) for name in names),
            ]
        )

    def __call__(self, settings: Settings, **given: Any) -> query.Query:
        given_t = given.pop("apdex_t", None)
        with as_422():
            parsed = query.parse(
                given,
                time.time(),
                apdex_t=given_t or settings.apdex_threshold_ms,
                max_buckets=self.max_buckets,
            )
        return dataclasses.replace(parsed, apdex_t_given=given_t is not None)
