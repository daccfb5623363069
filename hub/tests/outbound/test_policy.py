"""The outbound address rules: which addresses are the local network, what the operator's settings allow."""

from __future__ import annotations

import ipaddress

import pytest
from tallyhub.outbound.policy import Policy, Refused, local_kind, parse_allow
from tallyhub.settings import load_settings

LOCAL = [
    ("127.0.0.1", "loopback"),
    ("127.9.9.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),  # unique-local
    ("fd12:3456::1", "private"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.1.2.3", "private"),
    ("100.64.0.1", "non-public"),  # shared address space (carrier-grade NAT)
]


@pytest.mark.parametrize("address,kind", LOCAL)
def test_local_addresses_are_refused_and_named(address: str, kind: str) -> None:
    assert local_kind(ipaddress.ip_address(address)) == kind
    with pytest.raises(Refused) as refused:
        Policy().check(address, 80)
    assert f"is a {kind} address" in str(refused.value) and "TALLYHUB_OUTBOUND_ALLOW" in str(refused.value)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert local_kind(ipaddress.ip_address(address)) is None
    assert Policy().check(address, 443) == [str(ipaddress.ip_address(address))]


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    answers = {"mixed.test": ["93.184.216.34", "127.0.0.1"], "public.test": ["93.184.216.34"]}
    policy = Policy(resolver=lambda host, _port: answers[host])
    with pytest.raises(Refused, match=r"mixed\.test resolves to 127\.0\.0\.1, which is a loopback address"):
        policy.check("mixed.test", 80)
    assert policy.check("public.test", 80) == ["93.184.216.34"]


def test_localhost_is_refused_after_resolution() -> None:
    with pytest.raises(Refused, match="localhost resolves to"):
        Policy().check("localhost", 80)


def test_the_operator_allows_the_local_network_or_listed_hosts_and_networks() -> None:
    assert Policy(allow_local=True).check("127.0.0.1", 80) == ["127.0.0.1"]
    settings = load_settings(
        {"outbound_allow": " status.internal, 10.1.0.0/16 ,fd00::/8,127.0.0.1"}, environ={}
    )
    policy = Policy.from_settings(settings)
    assert policy.check("10.1.200.3", 80) == ["10.1.200.3"]
    assert policy.check("::ffff:10.1.0.9", 80) == ["::ffff:a01:9"]  # mapped form of an allowed network
    assert policy.check("fd00::5", 80) == ["fd00::5"]
    assert policy.check("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(Refused):
        policy.check("10.2.0.1", 80)
    with pytest.raises(Refused):
        policy.check("127.0.0.2", 80)
    by_name = Policy(allow_names=frozenset({"status.internal"}), resolver=lambda _h, _p: ["10.9.9.9"])
    assert by_name.check("Status.Internal.", 80) == ["10.9.9.9"]
    with pytest.raises(Refused):
        Policy(resolver=lambda _h, _p: ["10.9.9.9"]).check("status.internal", 80)


def test_the_settings_are_off_by_default_and_a_bad_allow_list_is_named() -> None:
    settings = load_settings(environ={})
    assert (settings.outbound_allow_local, settings.outbound_allow) == (False, "")
    assert load_settings(environ={"TALLYHUB_OUTBOUND_ALLOW_LOCAL": "yes"}).outbound_allow_local is True
    with pytest.raises(ValueError, match="TALLYHUB_OUTBOUND_ALLOW_LOCAL='maybe'"):
        load_settings(environ={"TALLYHUB_OUTBOUND_ALLOW_LOCAL": "maybe"})
    with pytest.raises(ValueError, match="'http://x' is neither a host name nor an address or CIDR"):
        parse_allow("ok.example, http://x")


def test_a_name_that_does_not_resolve_passes_setup_and_fails_at_run_time() -> None:
    def nowhere(_host: str, _port: int | None) -> list[str]:
        raise OSError("Name or service not known")

    policy = Policy(resolver=nowhere)
    policy.check_at_setup("not-yet.example", 80)
    with pytest.raises(OSError):
        policy.check("not-yet.example", 80)
