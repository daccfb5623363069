"""Work that runs on a schedule: rollups, retention (and later uptime checks and alerts)."""
