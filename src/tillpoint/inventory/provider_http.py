"""One GET towards an inventory provider, the same for all of them: a timeout or a refused
connection, a non-200 answer and an unreadable body each become a :class:`ProviderError`
naming the provider's own error text; a 429 is retried after the wait its headers ask for
(``Retry-After``, or ShipStation v1's ``X-Rate-Limit-Reset``), at most ``RETRIES`` times
and only when that wait is within the configured bound."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

RETRIES = 3
ERROR_TEXT_CHARS = 200


class ProviderError(Exception):
    """The provider could not be read (down, refused, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is called and how long a 429 may make us wait."""

    name: str
    max_retry_wait: float
    describe: Callable[[httpx.Response], str]


def retry_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks us to wait, or None when it does not say."""
    for name in ("retry-after", "x-rate-limit-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            wait = float(value)
        except ValueError:
            return None
        return wait if 0 <= wait < 86_400 else None
    return None


async def get_json(
    client: httpx.AsyncClient, caller: Caller, url: str, params: Mapping[str, Any] | None = None
) -> tuple[Any, httpx.Response]:
    """GET ``url`` and return its JSON body (and the response, for its headers)."""
    for attempt in range(RETRIES + 1):
        try:
            r = await client.get(url, params=params)
        except httpx.TimeoutException:
            raise ProviderError(f"{caller.name}: timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{caller.name}: request failed: {type(exc).__name__}") from None
        if r.status_code == 429:
            wait = retry_wait(r.headers)
            if wait is None or wait > caller.max_retry_wait or attempt == RETRIES:
                raise ProviderError(f"{caller.name}: rate limited (429, retry after {wait}s)")
            await asyncio.sleep(wait)
            continue
        if r.status_code != 200:
            text = _safe(caller.describe, r)
            raise ProviderError(f"{caller.name}: answered {r.status_code}: {text}")
        try:
            return r.json(), r
        except ValueError:
            raise ProviderError(f"{caller.name}: answered a body that is not JSON") from None
    raise AssertionError("unreachable")


def _safe(describe: Callable[[httpx.Response], str], r: httpx.Response) -> str:
    """The provider's error text, one line and bounded (it ends up in logs and reports)."""
    try:
        text = describe(r)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        text = ""
    text = " ".join((text or r.reason_phrase or "").split())
    return text[:ERROR_TEXT_CHARS]


def require_https(url: str, setting: str) -> str:
    """``url`` without a trailing slash; refused unless HTTPS (plain HTTP only to a loopback
    address, as the tests' stand-in servers are): keys and stock travel over it."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        return url.rstrip("/")
    raise ValueError(f"{setting} must be an https:// URL")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def whole(value: Any) -> int:
    """A provider's count as an int (bools and floats are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not a whole number: {value!r}")
    return value
