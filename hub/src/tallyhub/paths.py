"""Route templates differ per framework; `path_key` gives one spelling to match them by.

Flask `/items/<int:id>`, Starlette `/items/{id:int}`, FastAPI `/items/{id}` and Express `/items/:id`
all become `/items/{}`.
"""

from __future__ import annotations

import re

_PARAM = re.compile(
    r"<(?:[^:<>]+:)?[^<>]+>"  # Flask / Werkzeug: <id>, <int:id>, <path:rest>
    r"|\{[^{}]+\}"  # Starlette / FastAPI / OpenAPI: {id}, {id:int}
    r"|(?<=/):[A-Za-z_][\w-]*\??"  # Express / Koa / Hono: :id, :id?
    r"|(?<=/)\*\w*"  # Express wildcards: *, *rest
)


def path_key(path: str) -> str:
    """The framework-neutral form of a route template (parameters as `{}`, no trailing slash)."""
    key = _PARAM.sub("{}", path.strip())
    if len(key) > 1:
        key = key.rstrip("/") or "/"
    return key


# --- Wildcard patterns of the path filter ---
#
# A filter value containing `*` is a pattern over route templates, matched segment by segment against
# each endpoint's path_key: `**` as a whole segment is any number of segments (none included), any
# other `*` is any characters within one segment (`/items/*` matches `/items/{id}`, `/v1/user*` matches
# `/v1/users`). Segments without `*` match as a plain filter does (`{id}`, `<id>`, `:id` are alike).
# Matching walks the segments with a set of positions, so no pattern can backtrack exponentially.

_ANY_SEGMENTS = "**"


class InvalidPattern(ValueError):
    """A wildcard path filter that cannot be matched; the message says why."""


def is_pattern(path: str) -> bool:
    """Whether a path filter is a wildcard pattern (it contains `*`)."""
    return "*" in path


def _segments(key: str) -> list[str]:
    inner = key.strip("/")
    return inner.split("/") if inner else []


def compile_pattern(pattern: str) -> list[re.Pattern[str] | None]:
    """The pattern's segments: a regex per segment, None for `**`; InvalidPattern names what is wrong."""
    text = pattern.strip()
    if not text.startswith("/"):
        raise InvalidPattern("a wildcard pattern starts with / (e.g. /items/* or /v1/**)")
    if len(text) > 1:
        text = text.rstrip("/")
    compiled: list[re.Pattern[str] | None] = []
    for segment in _segments(text) if text != "/" else []:
        if not segment:
            raise InvalidPattern("a wildcard pattern has no empty segments (//)")
        if segment == _ANY_SEGMENTS:
            if compiled and compiled[-1] is None:
                continue  # /**/** is /**
            compiled.append(None)
        elif "**" in segment:
            raise InvalidPattern("** stands for whole segments only (/v1/**), not inside one")
        else:
            parts = [
                re.escape(path_key("/" + part).lstrip("/") if part else "") for part in segment.split("*")
            ]
            compiled.append(re.compile(".*".join(parts)))
    return compiled


def pattern_matches(compiled: list[re.Pattern[str] | None], key: str) -> bool:
    """Whether the path_key `key` matches a compiled pattern."""
    segments = _segments(key)
    count = len(segments)
    positions = {0}  # how many of the key's segments the pattern so far can have consumed
    for part in compiled:
        if part is None:
            positions = set(range(min(positions), count + 1))
        else:
            positions = {i + 1 for i in positions if i < count and part.fullmatch(segments[i])}
        if not positions:
            return False
    return count in positions
