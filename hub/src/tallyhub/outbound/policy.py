"""The address rules of outbound requests: without the operator's leave, the local network is off limits.

A target is refused when any address its name resolves to is loopback, link-local (169.254.169.254
included), private, unique-local, multicast, unspecified or otherwise not globally routable (IPv4,
IPv6 and IPv4-mapped IPv6 alike), unless `outbound_allow_local` is on or the host or address is in
`outbound_allow`. Names are judged by what they resolve to, never by how they are spelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import socket
from collections.abc import Callable, Sequence

from tallyhub.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int | None], Sequence[str]]


class Refused(ValueError):
    """An outbound request the policy does not allow; the message names the host and why."""


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def local_kind(address: Address) -> str | None:
    """Why the address belongs to the local network (e.g. "loopback"), or None for a public address."""
    address = _unmapped(address)
    for kind, hit in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
    ):
        if hit:
            return kind
    if not address.is_global:  # shared (100.64/10), reserved, documentation ranges...
        return "non-public"
    return None


def resolve(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to (one DNS answer), in the order the system gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def parse_allow(text: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """The host names and networks of an `outbound_allow` value (comma-separated; ValueError if wrong)."""
    names: set[str] = set()
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        name = item.lower().rstrip(".")
        if any(c in name for c in "/:@ ") or not name:
            raise ValueError(f"{item!r} is neither a host name nor an address or CIDR")
        names.add(name)
    return frozenset(names), tuple(networks)


@dataclasses.dataclass(frozen=True)
class Policy:
    """The operator's rules for one hub: local targets allowed or not, and the hosts/CIDRs always allowed."""

    allow_local: bool = False
    allow_names: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()
    resolver: Resolver = resolve

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        names, networks = parse_allow(settings.outbound_allow)
        return cls(settings.outbound_allow_local, names, networks)

    def allows_name(self, host: str) -> bool:
        """The host is in `outbound_allow` by name (every address it resolves to is then allowed)."""
        return host.lower().rstrip(".") in self.allow_names

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (which `host` resolved to) is refused, or None when allowed."""
        ip = _literal(address)
        if ip is None:
            return f"{address!r} is not an IP address"
        if self.allow_local or self.allows_name(host):
            return None
        if any(_unmapped(ip) in net or ip in net for net in self.allow_networks):
            return None
        kind = local_kind(ip)
        if kind is None:
            return None
        shown = host if host == address else f"{host} resolves to {address}, which"
        return (
            f"{shown} is a {kind} address: requests to the local network are off (the hub's "
            "operator can allow them with TALLYHUB_OUTBOUND_ALLOW_LOCAL or TALLYHUB_OUTBOUND_ALLOW)"
        )

    def check(self, host: str, port: int | None) -> list[str]:
        """The addresses to connect to for host:port, every one allowed; Refused naming the first that is not.

        Raises OSError (socket.gaierror) when the name does not resolve.
        """
        literal = _literal(host)
        if literal is not None:
            host = str(literal)  # [::1] as ::1
        addresses = [host] if literal is not None else list(self.resolver(host, port))
        for address in addresses:
            reason = self.refusal(host, address)
            if reason is not None:
                raise Refused(reason)
        return addresses

    def check_at_setup(self, host: str, port: int | None) -> None:
        """Check a target as it is entered: Refused when it resolves to a refused address now.

        A name that does not resolve yet passes (the check or delivery fails at run time, and is checked
        again then).
        """
        with contextlib.suppress(OSError):
            self.check(host, port)

    def excerpt_allowed(self, host: str, address: str) -> bool:
        """Whether a response body from `address` may be kept and shown (only when the target was allowed)."""
        return self.refusal(host, address) is None
