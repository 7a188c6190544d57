"""Which hosts a request may name and which origins may send us state-changing requests.

The ``Host`` header is the client's to choose, so nothing may be built from it: it is
checked against the allowed hosts (exact names, ``*.example.com`` for subdomains, ``*``
for any) and a refused host never reaches a route. A browser's ``Origin`` header (or,
without it, the origin of its ``Referer``) is not the page's to choose: a request whose
origin is present and neither the request's own nor an allowed one came from another
site's page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$")
_IPV6 = re.compile(r"^[0-9a-f:.]+$")


def host_name(host_header: str) -> str | None:
    """``Shop.Example.com:8443`` -> ``shop.example.com``, ``[::1]:80`` -> ``::1``; None
    for anything that is not a host name or address with an optional port."""
    text = host_header.strip().lower()
    if text.startswith("["):
        address, sep, rest = text[1:].partition("]")
        if not sep or not _IPV6.match(address) or (rest and not _port_suffix(rest)):
            return None
        return address
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    if not _HOST_NAME.match(name):
        return None
    return name.rstrip(".")


def _port_suffix(rest: str) -> bool:
    return rest.startswith(":") and rest[1:].isdigit()


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """True if the ``Host`` header names one of the ``allowed`` host patterns."""
    name = host_name(host_header or "")
    if name is None:
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def origin_of(url: str) -> str | None:
    """The origin (``scheme://host[:port]``, default port left out) of an http(s) URL,
    or None for anything else (``null``, ``about:blank``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}:{port}"
    return f"{parts.scheme}://{host}"
