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
