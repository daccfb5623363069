"""Channel URLs through Apprise: every listed kind parses, secrets are masked, bad URLs say why."""

from __future__ import annotations

import pytest
from tallyhub.alerts import channel_urls as channels


@pytest.mark.parametrize(
    ("url", "kind", "secret"),
    [
        ("mailtos://alerts:Pa55word@smtp.example.com?to=oncall@example.com", "email", "Pa55word"),
        ("slack://T0123ABCD/B0456EFGH/abcdefSECRETtoken123/#ops", "slack", "abcdefSECRETtoken123"),
        ("workflows://prod-00.westus.logic.azure.com/a1b2c3d4e5f6/SigSECRETvalue", "teams", "SigSECRETvalue"),
        ("discord://1234567890/WebhookSECRETtoken", "discord", "WebhookSECRETtoken"),
        (
            "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567890",
            "telegram",
            "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ),
        ("ntfys://bob:NtfySECRET@ntfy.example.com/alerts", "ntfy", "NtfySECRET"),
        ("pagerduty://IntegrationSECRET@ApiKeySECRET", "pagerduty", "ApiKeySECRET"),
        ("jsons://robot:HookSECRET@hooks.example.com/tallyhub", "webhook", "HookSECRET"),
        ("gotifys://gotify.example.com/GotifySECRETtoken", "other", "GotifySECRETtoken"),
    ],
)
def test_kinds_parse_and_secrets_are_masked(url: str, kind: str, secret: str) -> None:
    parsed = channels.parse(url)
    assert parsed.kind == kind
    assert secret not in parsed.masked and secret not in channels.masked(url)


def test_every_example_on_the_form_is_a_url_apprise_reads() -> None:
    for label, url in channels.EXAMPLES:
        assert channels.parse(url).kind != "other", label


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("hooks.example.com/x", "starts with a scheme"),
        ("nosuchservice://x", "Apprise cannot read this nosuchservice:// URL"),
        ("slack://onlyone", "Apprise cannot read this slack:// URL"),
        ("json://" + "a" * 5000, "longer than"),
    ],
)
def test_urls_apprise_cannot_use_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(channels.ChannelError, match=message):
        channels.parse(url)
