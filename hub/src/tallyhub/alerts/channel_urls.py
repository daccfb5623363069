"""Notification channels through Apprise: read and check a channel's URL, mask its secrets, send a message.

No sender is written by hand: every channel (e-mail over SMTP, Slack, Microsoft Teams, Discord,
Telegram, ntfy, PagerDuty, a JSON webhook, or any other service Apprise knows) is an Apprise URL.
The outbound policy applies twice: to the hosts written in the URL when it is entered (`validate`),
and to every name Apprise resolves while it sends (tallyhub.outbound.guard), since DNS can change.
"""

from __future__ import annotations

import dataclasses
import logging

import apprise

from tallyhub.outbound.guard import guarded
from tallyhub.outbound.policy import Policy, Refused

MAX_URL_LENGTH = 4000
# A send ends within SEND_TIMEOUT_SECONDS (Apprise stops waiting); each socket operation of a plugin
# within these, whatever cto=/rto= the URL asks for, so an abandoned send ends soon after too.
SEND_TIMEOUT_SECONDS = 12.0
CONNECT_TIMEOUT_SECONDS = 4.0
READ_TIMEOUT_SECONDS = 8.0

# The kind shown for a channel, from its URL's scheme (both the plain and the TLS spelling).
KINDS: dict[str, str] = {
    "mailto": "email",
    "mailtos": "email",
    "slack": "slack",
    "msteams": "teams",
    "workflow": "teams",
    "workflows": "teams",
    "discord": "discord",
    "tgram": "telegram",
    "ntfy": "ntfy",
    "ntfys": "ntfy",
    "pagerduty": "pagerduty",
    "json": "webhook",
    "jsons": "webhook",
}

# One example per kind, for the channel form's help (the README lists the same).
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("E-mail (SMTP)", "mailtos://user:password@smtp.example.com?from=hub@example.com&to=ops@example.com"),
    ("Slack", "slack://TokenA/TokenB/TokenC/#alerts"),
    # Teams through a Power Automate workflow (Apprise's workflows://; Office 365 connectors are retired).
    ("Microsoft Teams", "workflows://prod-00.westus.logic.azure.com/WorkflowID/Signature"),
    ("Discord", "discord://WebhookID/WebhookToken"),
    ("Telegram", "tgram://123456789:BotTokenFromBotFather/ChatID"),
    ("ntfy", "ntfys://ntfy.sh/my-topic"),
    ("PagerDuty", "pagerduty://IntegrationKey@ApiKey"),
    ("JSON webhook", "jsons://hooks.example.com/tallyhub"),
)


class ChannelError(ValueError):
    """A channel URL Apprise cannot use; the message says why."""


@dataclasses.dataclass(frozen=True)
class Parsed:
    kind: str
    masked: str


def _plugin(url: str) -> apprise.plugins.NotifyBase:
    text = url.strip()
    if not text:
        raise ChannelError("the Apprise URL is empty")
    if len(text) > MAX_URL_LENGTH:
        raise ChannelError(f"the Apprise URL is longer than {MAX_URL_LENGTH} characters")
    if "\x00" in text:
        raise ChannelError("the Apprise URL contains a NUL character")
    if "://" not in text:
        raise ChannelError("an Apprise URL starts with a scheme such as mailtos://, slack:// or jsons://")
    plugin = apprise.Apprise.instantiate(text, suppress_exceptions=True)
    if not plugin:
        scheme = text.split("://", 1)[0]
        raise ChannelError(
            f"Apprise cannot read this {scheme}:// URL (unknown scheme, or a token or address is "
            "missing or malformed; see the Apprise documentation for this service)"
        )
    return plugin


def parse(url: str) -> Parsed:
    """The channel's kind and masked URL; ChannelError when Apprise cannot parse the URL."""
    plugin = _plugin(url)
    scheme = url.strip().split("://", 1)[0].lower()
    return Parsed(KINDS.get(scheme, "other"), str(plugin.url(privacy=True)))


def hosts(plugin: apprise.plugins.NotifyBase) -> list[tuple[str, int | None]]:
    """The hosts (with ports) a channel's URL names: the custom host of webhooks, ntfy, SMTP and the like.

    Only plugins whose URL template has a {host} call it (in discord://ID/TOKEN the "host" is an ID).
    """
    port = plugin.port if isinstance(getattr(plugin, "port", None), int) else None
    found = []
    if "host" in plugin.template_tokens and isinstance(plugin.host, str) and plugin.host:
        found.append((plugin.host, port))
    smtp_host = getattr(plugin, "smtp_host", None)  # e-mail: the server Apprise picked for the address
    if isinstance(smtp_host, str) and smtp_host and smtp_host != plugin.host:
        found.append((smtp_host, port))
    return found


def validate(url: str, policy: Policy) -> Parsed:
    """`parse`, and a ChannelError when a host of the URL resolves to an address the policy refuses."""
    parsed = parse(url)
    for host, port in hosts(_plugin(url)):
        try:
            policy.check_at_setup(host, port)
        except Refused as exc:
            raise ChannelError(f"the channel's host is refused: {exc}") from None
    return parsed


def masked(url: str) -> str:
    """The URL with its passwords and tokens hidden (Apprise's privacy spelling), for display."""
    try:
        return parse(url).masked
    except ChannelError:
        return url.split("://", 1)[0] + "://…"


def send(url: str, title: str, body: str, policy: Policy, notify_type: str = "info") -> str | None:
    """Send one message within SEND_TIMEOUT_SECONDS, every name it resolves checked against `policy`;
    None when delivered, else what went wrong (from Apprise's own log)."""
    try:
        plugin = _plugin(url)
    except ChannelError as exc:
        return str(exc)
    for host, port in hosts(plugin):
        try:  # the URL's own hosts first, for a clear message; the guard below covers every resolution
            policy.check(host, port)
        except Refused as exc:
            return f"the channel's host is refused: {exc}"
        except OSError:
            pass  # does not resolve: Apprise says so in its own words
    plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, CONNECT_TIMEOUT_SECONDS)
    plugin.socket_read_timeout = min(plugin.socket_read_timeout, READ_TIMEOUT_SECONDS)
    notifier = apprise.Apprise()
    notifier.add(plugin)
    with apprise.LogCapture(level=logging.WARNING) as captured, guarded(policy):
        try:
            delivered = bool(
                notifier.notify(
                    body=body,
                    title=title,
                    notify_type=apprise.NotifyType(notify_type),
                    timeout=SEND_TIMEOUT_SECONDS,
                )
            )
        except Exception as exc:  # a plugin bug must not stop the other deliveries
            return f"{type(exc).__name__}: {exc}"
    if delivered:
        return None
    lines = [line.split(" - ", 2)[-1].strip() for line in captured.getvalue().splitlines() if line.strip()]
    return "; ".join(lines)[:2000] or "Apprise reported a failure without details"
