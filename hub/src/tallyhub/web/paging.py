"""A list page's pager: where its previous/next links and sortable column headers lead."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from urllib.parse import urlencode

from tallyhub.analytics.paging import Page, parse_page

PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class Pager:
    """Items [page.offset, page.offset + shown) of `total`; `desc_first` = sort keys that start descending."""

    page: Page
    total: int
    shown: int
    default_sort: str
    desc_first: Collection[str]

    @property
    def first(self) -> int:
        return self.page.offset + 1 if self.shown else 0

    @property
    def last(self) -> int:
        return self.page.offset + self.shown

    @property
    def has_previous(self) -> bool:
        return self.page.offset > 0

    @property
    def has_next(self) -> bool:
        return self.page.offset + self.shown < self.total

    def _href(self, base: str, offset: int, sort: str, desc: bool) -> str:
        params = []
        if sort != self.default_sort or desc != (sort in self.desc_first):
            params += [("sort", sort), ("dir", "desc" if desc else "asc")]
        if self.page.limit != PAGE_SIZE:
            params.append(("limit", str(self.page.limit)))
        if offset:
            params.append(("offset", str(offset)))
        if not params:
            return base
        return base + ("&" if "?" in base else "?") + urlencode(params)

    def previous_href(self, base: str) -> str:
        return self._href(base, max(0, self.page.offset - self.page.limit), self.page.sort, self.page.desc)

    def next_href(self, base: str) -> str:
        return self._href(base, self.page.offset + self.page.limit, self.page.sort, self.page.desc)

    def sort_href(self, base: str, key: str) -> str:
        """Sorted by `key` from the first item: the other direction when it is the current key."""
        desc = not self.page.desc if key == self.page.sort else key in self.desc_first
        return self._href(base, 0, key, desc)

    def arrow(self, key: str) -> str:
        return ("▼" if self.page.desc else "▲") if key == self.page.sort else ""


def requested_page(
    params: Mapping[str, str], sorts: Collection[str], default_sort: str, desc_first: Collection[str]
) -> Page:
    """The page the URL asks for (InvalidParameter for a bad limit, offset, sort or dir)."""
    return parse_page(params, tuple(sorts), default_sort, default_sort in desc_first, PAGE_SIZE)
