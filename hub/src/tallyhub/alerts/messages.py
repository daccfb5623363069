"""What a notification says, in plain words, and the dashboard link with the rule's filters."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import urlencode

from tallyhub.alerts.rule_eval import Evaluation
from tallyhub.alerts.rule_metrics import KNOWN
from tallyhub.alerts.rule_spec import COMPARISON_WORDS, WINDOWS
from tallyhub.alerts.rules import Rule
from tallyhub.settings import Settings

_BUILTIN_PAGES = {"env_down": "uptime", "health_check_failing": "uptime", "consumer_quiet": "consumers"}


@dataclasses.dataclass(frozen=True)
class Message:
    title: str
    body: str


def hub_base_url(settings: Settings) -> str:
    """The public_url setting, else http://HOST:PORT (a wildcard host spelled as localhost)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _period(window_seconds: int) -> str:
    return "1h" if window_seconds <= 3600 else "24h"


def dashboard_link(settings: Settings, rule: Rule) -> str:
    """The page of the rule's metric, filtered to its env and scope, over a period covering the window.

    The parameters are the dashboard's own (tallyhub.web.filters), in its order.
    """
    page = KNOWN[rule.metric].page if rule.metric else _BUILTIN_PAGES.get(rule.kind, "traffic")
    params = {"env": rule.env, "period": _period(rule.window_seconds)}
    if rule.scope in ("consumer", "group") and rule.scope_value:
        params[rule.scope] = rule.scope_value
    elif rule.scope == "endpoint" and rule.scope_value:
        method, _, path = rule.scope_value.partition(" ")
        params.update(method=method, path=path)
    return f"{hub_base_url(settings)}/apps/{rule.app_id}/{page}?{urlencode(params)}"


def format_value(metric: str | None, value: float | None) -> str:
    if value is None:
        return "no data"
    unit = KNOWN[metric].unit if metric else ""
    number = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"
    if unit in ("", "/min"):
        return number + (" per minute" if unit else "")
    return f"{number} {unit}" if unit != "%" else f"{number}%"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _duration(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _scope_words(rule: Rule) -> str:
    return f" for {rule.scope} {rule.scope_value}" if rule.scope else ""


def _what(rule: Rule, evaluation: Evaluation) -> str:
    """The condition and the value, e.g. "p95 response time is 742 ms, above the threshold of 500 ms"."""
    if rule.kind == "env_down":
        return "no instance has synced: the environment is down" + (
            f" ({evaluation.detail})" if evaluation.detail else ""
        )
    if rule.kind == "health_check_failing":
        return "its health check is failing" + (f": {evaluation.detail}" if evaluation.detail else "")
    if rule.kind == "consumer_quiet":
        window = WINDOWS.get(rule.window_seconds, _duration(rule.window_seconds))
        return (
            f"consumers with requests in each of the last {rule.baseline_hours} hours sent none in the last "
            f"{window}: {evaluation.detail or 'none'}"
        )
    assert rule.metric is not None
    return (
        f"{KNOWN[rule.metric].label}{_scope_words(rule)} is {format_value(rule.metric, evaluation.value)} "
        "over the "
        f"last {WINDOWS.get(rule.window_seconds, _duration(rule.window_seconds))}, "
        f"{COMPARISON_WORDS[rule.comparison]} the threshold of {format_value(rule.metric, rule.threshold)}"
    )


def _recovered(rule: Rule, evaluation: Evaluation) -> str:
    if rule.kind == "env_down":
        return "instances are syncing again: the environment is back up"
    if rule.kind == "health_check_failing":
        return "the health check passes again"
    if rule.kind == "consumer_quiet":
        return "no steady consumer is quiet any more"
    assert rule.metric is not None
    return (
        f"{KNOWN[rule.metric].label}{_scope_words(rule)} is {format_value(rule.metric, evaluation.value)}, "
        f"no longer {COMPARISON_WORDS[rule.comparison]} {format_value(rule.metric, rule.threshold)}"
    )


def fired(settings: Settings, rule: Rule, evaluation: Evaluation, since: float, now: float) -> Message:
    title = f"[Alert] {rule.app_name} ({rule.env}): {rule.name}"
    body = (
        f"{rule.app_name}, environment {rule.env}: {_what(rule, evaluation)}.\n"
        f'Since {_when(since)} ({_duration(now - since)} ago), rule "{rule.name}".\n'
        f"Dashboard: {dashboard_link(settings, rule)}"
    )
    return Message(title, body)


def resolved(settings: Settings, rule: Rule, evaluation: Evaluation, since: float, now: float) -> Message:
    title = f"[Back to normal] {rule.app_name} ({rule.env}): {rule.name}"
    body = (
        f"{rule.app_name}, environment {rule.env} is back to normal: {_recovered(rule, evaluation)}.\n"
        f'The alert had been on since {_when(since)} ({_duration(now - since)}), rule "{rule.name}".\n'
        f"Dashboard: {dashboard_link(settings, rule)}"
    )
    return Message(title, body)
