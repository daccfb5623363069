"""Outbound requests (health checks, notification channels): which addresses the hub may call, and the
bounded worker pools those calls run in."""
