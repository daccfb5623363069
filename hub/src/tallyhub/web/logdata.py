"""What the request-log explorer shows: the list page's context, one request's detail, bodies and waterfall.

Presentation only: the rows come from tallyhub.analytics.request_logs, the filters are parsed by
tallyhub.analytics.log_query (and the dashboard's own by web.filters).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tallyhub.analytics import request_logs
from tallyhub.analytics.log_query import LogFilters, parse_log_filters
from tallyhub.analytics.query import InvalidParameter, parse_time
from tallyhub.analytics.scope import Scope
from tallyhub.web.filters import Filters, filter_errors

PAGE_SIZE = 50
MASKED, TOO_LARGE = b"<masked>", b"<body too large>"
LOG_FILTER_TEMPLATE = "_log_filters.html"


def log_filters_of(params: Mapping[str, str]) -> LogFilters:
    """The explorer's filters of the URL; FilterError (the dashboard's 400 page) names a bad one."""
    with filter_errors():
        return parse_log_filters(params)


def before_param(params: Mapping[str, str], item: str = "a logged request") -> int | None:
    """The `before` of a keyset-paged list (a row id); FilterError names a bad one."""
    raw = (params.get("before") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) < 2**63:
        with filter_errors():
            raise InvalidParameter("before", f"the id of {item}", raw)
    return int(raw)


def href(filters: Filters, logs: LogFilters, target: str, **extra: Any) -> str:
    """`target` with the dashboard's and the explorer's filters (and `extra`) in its query string."""
    params = [*filters.params(), *logs.params(), *((k, str(v)) for k, v in extra.items() if v is not None)]
    return target + ("?" + urlencode(params) if params else "")


def request_logs_data(scope: Scope) -> dict[str, Any]:
    """The explorer page: one page of logged requests, newest first, and where the next page is."""
    logs = log_filters_of(scope.params)
    method = scope.query.filters.method
    # The logged method, not the endpoint's, so that requests to unknown routes match it too.
    resolved = scope.resolved
    if method is not None and scope.query.filters.path is None:
        resolved = without_method(scope)
    page = request_logs.list_request_logs(
        scope.conn,
        resolved,
        scope.query.start,
        scope.query.end,
        PAGE_SIZE,
        before_param(scope.params),
        method=method,
        logs=logs,
    )
    return {
        "items": page["items"],
        "next_before": page["next_before"],
        "older": before_param(scope.params) is not None,
        "log_filters": logs,
        "extra_filters": LOG_FILTER_TEMPLATE,
        "href": href,
    }


def without_method(scope: Scope) -> Any:
    """The selection but the method's endpoints: the method is matched on the logged method instead."""
    return dataclasses.replace(scope.resolved, endpoint_ids=None)


def body_view(encoded: str | None) -> dict[str, Any]:
    """How a base64 body shows: none, masked, too large, pretty JSON, text, or binary (with its size)."""
    if not encoded:
        return {"kind": "none"}
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return {"kind": "text", "text": encoded}
    if raw == MASKED:
        return {"kind": "masked"}
    if raw == TOO_LARGE:
        return {"kind": "too_large"}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"kind": "binary", "size": len(raw)}
    try:
        return {"kind": "json", "text": json.dumps(json.loads(text), indent=2, ensure_ascii=False)}
    except ValueError:
        return {"kind": "text", "text": text}


def headers_view(headers: Any) -> list[tuple[str, str]]:
    """Headers as (name, value) pairs, whatever list shape the client sent."""
    if not isinstance(headers, list):
        return []
    return [(str(h[0]), str(h[1])) for h in headers if isinstance(h, list | tuple) and len(h) == 2]


def waterfall(spans: Any) -> list[dict[str, Any]]:
    """The trace's spans in start order: offset and duration in ms, and the bar's place in % of the trace."""
    spans = [s for s in spans or [] if isinstance(s, dict) and isinstance(s.get("start_time"), int)]
    if not spans:
        return []
    start = min(s["start_time"] for s in spans)
    end = max(max(s.get("end_time") or s["start_time"], s["start_time"]) for s in spans)
    total = max(end - start, 1)
    parents = {s.get("span_id"): s.get("parent_span_id") for s in spans}

    def depth(span_id: Any) -> int:
        seen = 0
        while (span_id := parents.get(span_id)) in parents and seen < 20:  # bad parent cycles stop here
            seen += 1
        return seen

    rows = []
    for s in sorted(spans, key=lambda s: s["start_time"]):
        span_end = max(s.get("end_time") or s["start_time"], s["start_time"])
        rows.append(
            {
                "name": s.get("name") or "(unnamed)",
                "kind": s.get("kind"),
                "status": s.get("status"),
                "offset_ms": (s["start_time"] - start) / 1e6,
                "duration_ms": (span_end - s["start_time"]) / 1e6,
                "x": round(100 * (s["start_time"] - start) / total, 2),
                "width": max(round(100 * (span_end - s["start_time"]) / total, 2), 0.3),
                "depth": depth(s.get("span_id")),
                "attributes": json.dumps(
                    s.get("attributes") or {}, indent=2, ensure_ascii=False, default=str
                ),
            }
        )
    return rows


def app_logs_view(logs: Any, request_time: float) -> list[dict[str, Any]]:
    """The app's log records with their time offset from the request's start (ms)."""
    out = []
    for record in logs or []:
        if not isinstance(record, dict):
            continue
        at = record.get("timestamp")
        out.append(
            {
                "level": record.get("level"),
                "logger": record.get("logger"),
                "message": record.get("message"),
                "offset_ms": (at - request_time) * 1000 if isinstance(at, int | float) else None,
                "where": f"{record['file']}:{record.get('line')}" if record.get("file") else None,
            }
        )
    return out


def detail_view(item: dict[str, Any]) -> dict[str, Any]:
    """The template context of one logged request (an item of analytics.request_logs)."""
    details = item["details"]
    return {
        "log": item,
        "request_headers": headers_view(details.get("request_headers")),
        "response_headers": headers_view(details.get("response_headers")),
        "request_body": body_view(details.get("request_body")),
        "response_body": body_view(details.get("response_body")),
        "exception": details.get("exception"),
        "app_logs": app_logs_view(details.get("logs"), parse_time("timestamp", item["timestamp"])),
        "spans": waterfall(details.get("spans")),
    }
