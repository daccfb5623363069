"""Saved views in the filter bar: the viewer's views as links that apply them to the page shown.

Applying a view replaces the page's filters by the view's, but for those that name what the page shows
(an endpoint's method and path, a consumer): those stay, so a view applies on a detail page too. Saving
stores the page's filters without those, so a view made on a detail page applies on every page.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from tallyhub.accounts.saved_view_rights import may_delete, may_save
from tallyhub.storage import saved_views as store
from tallyhub.web.access import Viewer, request_db
from tallyhub.web.filters import FilterError, Filters
from tallyhub.web.pages import CONSUMER_DETAIL_FILTERS, DATA_PAGES, ENDPOINT_DETAIL_FILTERS, PageFilters

# The pages below /apps/{id}/ with a filter bar, and the filters each keeps (its identity).
PAGES: dict[str, PageFilters] = {
    **{page.slug: page.filters for page in DATA_PAGES},
    "endpoints/detail": ENDPOINT_DETAIL_FILTERS,
    "consumers/detail": CONSUMER_DETAIL_FILTERS,
    "consumers/groups": PageFilters(),
}


@dataclasses.dataclass(frozen=True)
class ViewLink:
    """A saved view as the filter bar lists it."""

    id: int
    name: str
    shared: bool
    href: str  # the page shown, with the view applied
    current: bool  # the page's filters are the view's
    deletable: bool


def page_of(request: Request, app_id: int) -> str:
    """The page's path below /apps/{id}/ (a key of PAGES for the pages with a filter bar)."""
    return request.url.path.removeprefix(f"/apps/{app_id}/")


def applied(view_query: str, current: Filters, page: PageFilters) -> Filters:
    """The view's filters, keeping the current page's identity filters; FilterError if it no longer parses."""
    filters = Filters.from_query(dict(parse_qsl(view_query)))
    return filters.replace(**{name: getattr(current, name) for name in page.identity})


def saved_query(current_query: str, page: PageFilters) -> list[tuple[str, str]]:
    """The filter parameters of a page's query string that a view saved from it keeps."""
    return [(k, v) for k, v in parse_qsl(current_query) if k not in page.identity]


def bar(request: Request, viewer: Viewer, app_id: int, team_id: int, filters: Filters) -> dict[str, Any]:
    """What _saved_views.html needs: the viewer's views of the app and the save form's fields."""
    page = page_of(request, app_id)
    page_filters = PAGES.get(page)
    if page_filters is None:
        return {}
    role = viewer.role_in(team_id)
    with request_db(request).read() as conn:
        views = store.visible(conn, app_id, viewer.user.id)
    links = []
    for view in views:
        try:
            target = applied(view.query, filters, page_filters)
        except FilterError:
            continue  # a view a later release no longer reads: left out rather than a broken link
        links.append(
            ViewLink(
                view.id,
                view.name,
                view.shared,
                target.href(request.url.path),
                target.params() == filters.params(),
                may_delete(view, viewer.user.id, role),
            )
        )
    return {
        "saved_views": links,
        "view_page": page,
        "view_query": filters.query_string().removeprefix("?"),
        "may_share_views": may_save(role, True),
    }
