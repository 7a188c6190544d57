"""Which address a request really comes from.

``X-Forwarded-For`` is trusted only when the peer is one of our configured proxies;
then we walk the header from the right, skipping further trusted proxies, and take
the first address we do not trust. Anyone else's header is ignored: a client cannot
pick its own rate-limit key by sending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs or single addresses (``10.0.0.0/8``, ``127.0.0.1``) as networks."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:1234"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in proxies)


def in_networks(address: str | None, networks: Sequence[Network]) -> bool:
    """True if ``address`` (an IP, optionally with a port) is in one of ``networks``."""
    return address is not None and _trusted(address, networks)


def resolve_client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> str:
    """The client address: the peer, unless the peer is a trusted proxy that forwarded for
    someone (then the right-most untrusted ``X-Forwarded-For`` entry)."""
    client = peer or "unknown"
    if not forwarded_for or peer is None or not _trusted(peer, trusted_proxies):
        return client
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        parsed = _address(hop)
        if parsed is None:
            # A garbled hop: stop at the last address we could vouch for.
            return client
        client = str(parsed)
        if not any(parsed in net for net in trusted_proxies):
            return client
    return client
