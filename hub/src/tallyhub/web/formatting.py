"""Number and time formats of the dashboard's templates (registered as Jinja filters)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

_UNITS = ("B", "KB", "MB", "GB", "TB")


def count(value: int | float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def ms(value: float | None) -> str:
    """Milliseconds; a tenth of a millisecond under 10 ms, where it still tells endpoints apart."""
    if value is None:
        return "–"
    return f"{value:.1f} ms" if abs(value) < 10 and value != round(value) else f"{value:,.0f} ms"


def ms_estimate(value: float | None) -> str:
    """A percentile, which histograms only estimate: marked as such."""
    return "–" if value is None else f"≈ {ms(value)}"


def percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.1f} %"


def size(value: float | None) -> str:
    """Bytes in decimal units (1 KB = 1000 B, as the size histograms bin them)."""
    if value is None:
        return "–"
    amount = float(value)
    for unit in _UNITS:
        if abs(amount) < 1000 or unit == _UNITS[-1]:
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def _moment(value: str | float) -> datetime:
    """An epoch or an ISO 8601 time from the analytics (ending in Z) as an aware UTC datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def shown_time(moment: datetime, now: datetime) -> str:
    """'2 Dec 03:53 UTC'; the year too when it is not the current one."""
    year = f" {moment.year}" if moment.year != now.year else ""
    return f"{moment.day} {moment:%b}{year} {moment:%H:%M} UTC"


_STEPS = ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "minute"))


def relative(moment: datetime, now: datetime) -> str:
    """'3 hours ago', 'in 2 days', 'just now': the largest whole unit of the distance to now."""
    seconds = (now - moment).total_seconds()
    distance = abs(seconds)
    for step, unit in _STEPS:
        if distance >= step:
            amount = int(distance // step)
            phrase = f"{amount} {unit}{'s' if amount != 1 else ''}"
            return f"{phrase} ago" if seconds > 0 else f"in {phrase}"
    return "just now"


def when(value: str | float | None, now: float | None = None) -> Markup:
    """A time as every page shows it: <time> reading '2 Dec 03:53 UTC', relative ('3 hours ago') on
    hover, the exact ISO time in its datetime attribute (for machines, never shown as text)."""
    if value is None or value == "":
        return Markup("–")
    moment = _moment(value)
    current = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        stamp, relative(moment, current), escape(shown_time(moment, current))
    )


def apdex(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def duration(seconds: float | None) -> str:
    """3725 -> '1 h 2 min'; under a minute in seconds."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins else ""]
    return " ".join(p for p in parts if p)


def uptime(percent: float | None) -> str:
    """An uptime percentage (0-100) with the precision uptime needs: 99.95 %, not 100.0 %."""
    return "–" if percent is None else f"{percent:.2f} %" if percent < 100 else "100 %"


FILTERS: dict[str, Any] = {
    "duration": duration,
    "uptime": uptime,
    "count": count,
    "ms": ms,
    "ms_estimate": ms_estimate,
    "percent": percent,
    "size": size,
    "when": when,
    "apdex": apdex,
}
