"""A page of a list (limit, offset) and its order (sort key, direction), parsed once for web and api."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from tallyhub.analytics.query import InvalidParameter

MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page:
    """Items [offset, offset + limit) of a list sorted by `sort` (descending when `desc`)."""

    limit: int
    offset: int
    sort: str
    desc: bool


def parse_page(
    params: Mapping[str, str | None],
    sorts: Sequence[str],
    default_sort: str,
    default_desc: bool,
    default_limit: int,
) -> Page:
    """The page that `limit`, `offset`, `sort` and `dir` ask for; InvalidParameter names a bad one."""

    def number(name: str, default: int, low: int, high: int) -> int:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidParameter(name, "a whole number", raw) from None
        if not low <= value <= high:
            raise InvalidParameter(name, f"between {low} and {high}", raw)
        return value

    limit = number("limit", default_limit, 1, MAX_LIMIT)
    offset = number("offset", 0, 0, MAX_OFFSET)
    sort = (params.get("sort") or "").strip() or default_sort
    if sort not in sorts:
        raise InvalidParameter("sort", f"one of {', '.join(sorts)}", sort)
    direction = (params.get("dir") or "").strip().lower()
    if direction not in ("", "asc", "desc"):
        raise InvalidParameter("dir", "asc or desc", direction)
    desc = default_desc if not direction else direction == "desc"
    return Page(limit, offset, sort, desc)


def sliced(
    items: list[T], page: Page, keys: Mapping[str, Callable[[T], Any]], tie: Callable[[T], Any]
) -> list[T]:
    """The page of a list held in memory (bounded lists: endpoints, errors), sorted by its key then `tie`.

    None values sort last in either direction.
    """
    key = keys[page.sort]
    present = [i for i in items if key(i) is not None]
    missing = [i for i in items if key(i) is None]
    present.sort(key=tie)
    present.sort(key=key, reverse=page.desc)  # stable: ties stay in `tie` order
    missing.sort(key=tie)
    return (present + missing)[page.offset : page.offset + page.limit]
