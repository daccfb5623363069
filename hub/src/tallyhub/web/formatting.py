"""Number and time formats of the dashboard's templates (registered as Jinja filters)."""

from __future__ import annotations

from typing import Any

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


def when(iso_time: str | None) -> str:
    """'2026-11-26T10:00:00Z' -> '2026-11-26 10:00 UTC'."""
    return "–" if not iso_time else iso_time[:16].replace("T", " ") + " UTC"


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
