"""Uptime of an env: whether it is down now, and the share of a window not covered by incidents."""

from __future__ import annotations

from tallyhub.monitor.incidents import open_incidents

__all__ = ["open_incidents"]
