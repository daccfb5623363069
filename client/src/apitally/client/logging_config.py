"""Request-logging options: the keyword arguments of the middleware, with the official defaults."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

logger = logging.getLogger("apitally")

RequestDict = dict[str, Any]
ResponseDict = dict[str, Any]


@dataclass
class RequestLoggingConfig:
    """What request logging captures and masks; off unless `enabled`."""

    enabled: bool = False
    log_query_params: bool = True
    log_request_headers: bool = False
    log_request_body: bool = False
    log_response_headers: bool = True
    log_response_body: bool = False
    log_exception: bool = True
    capture_logs: bool = False
    capture_traces: bool = False
    mask_query_params: list[str] = field(default_factory=list)
    mask_headers: list[str] = field(default_factory=list)
    mask_body_fields: list[str] = field(default_factory=list)
    mask_request_body_callback: Callable[[RequestDict], bytes | None] | None = None
    mask_response_body_callback: Callable[[RequestDict, ResponseDict], bytes | None] | None = None
    exclude_paths: list[str] = field(default_factory=list)
    exclude_callback: Callable[[RequestDict, ResponseDict], bool] | None = None

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> RequestLoggingConfig:
        """Build from middleware keyword arguments; unknown names are reported once and ignored."""
        names = {f.name for f in fields(cls)} - {"enabled"}
        unknown = sorted(set(kwargs) - names - {"enable_request_logging"})
        if unknown:
            logger.error("Apitally: ignoring unknown option(s) %s", ", ".join(unknown))
        values = {k: v for k, v in kwargs.items() if k in names}
        return cls(enabled=bool(kwargs.get("enable_request_logging", False)), **values)
