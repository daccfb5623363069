"""Who may save and delete saved views (the dashboard's and the read API's rule, in one place).

Anyone who reads an app may keep private views, viewers included: a view only remembers filters, as a
bookmark does, and changes nothing the team sees. Sharing a view puts it in every teammate's filter bar,
so it takes the member role. A view is deleted by its creator, or, when shared, by a team admin.
"""

from __future__ import annotations

from tallyhub.accounts.teams import role_at_least
from tallyhub.storage.saved_views import SavedView


def may_save(role: str | None, shared: bool) -> bool:
    """Whether someone with `role` in the app's team may save a private (or shared) view."""
    return role_at_least(role, "member" if shared else "viewer")


def may_delete(view: SavedView, user_id: int, role: str | None) -> bool:
    """Whether that user (with `role` in the app's team) may delete the view."""
    if role is None:
        return False
    return view.user_id == user_id or (view.shared and role_at_least(role, "admin"))
