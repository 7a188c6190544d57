"""What the adapters of third-party HTTP APIs share (FedEx rates, USPS addresses).

- :class:`ClientCredentials`: an OAuth 2.0 client-credentials token (RFC 6749 §4.4),
  fetched once and reused until shortly before it expires; dropped after a 401.
- :class:`RateLimitPause`: after a 429, no request is sent until its ``Retry-After`` has
  passed, so a throttled provider is not hammered while the fallback answers.

Both live on the adapter instance the composition root builds, never in module state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import httpx

Now = Callable[[], datetime]


class ProviderHTTPError(Exception):
    """A provider answered with an error, or not in its documented shape."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class ClientCredentials:
    """A bearer token from ``token_url``, cached until ``margin`` before its expiry."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    now: Now
    encoding: Literal["form", "json"] = "form"
    margin: timedelta = timedelta(seconds=60)
    _token: str | None = field(default=None, init=False, repr=False)
    _expires: datetime | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def token(self, client: httpx.AsyncClient) -> str:
        """The cached token, or a new one (one request at a time: concurrent callers wait)."""
        async with self._lock:
            if self._token and self._expires and self.now() < self._expires:
                return self._token
            self._token, self._expires = await self._fetch(client)
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the API refused it: revoked or expired early)."""
        self._token = self._expires = None

    async def _fetch(self, client: httpx.AsyncClient) -> tuple[str, datetime]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if self.encoding == "form":
            resp = await client.post(self.token_url, data=body)
        else:
            resp = await client.post(self.token_url, json=body)
        data = answer_json(resp, "token")
        try:
            token = str(data["access_token"])
            # USPS sends expires_in as a string, FedEx as a number.
            lifetime = timedelta(seconds=int(str(data["expires_in"])))
        except (KeyError, ValueError, TypeError) as exc:
            raise ProviderHTTPError(f"token answer unreadable: {exc}") from exc
        return token, self.now() + max(lifetime - self.margin, timedelta(0))


@dataclass
class RateLimitPause:
    """Remembers a 429's ``Retry-After`` (seconds; ``default`` when absent or a date)."""

    now: Now
    default: timedelta = timedelta(seconds=60)
    until: datetime | None = None

    def check(self) -> None:
        """Raise while paused, without sending anything."""
        if self.until is not None and self.now() < self.until:
            raise ProviderHTTPError(f"rate limited until {self.until.isoformat()}", 429)

    def note(self, resp: httpx.Response) -> None:
        if resp.status_code != 429:
            return
        raw = resp.headers.get("retry-after", "")
        wait = timedelta(seconds=int(raw)) if raw.isdigit() else self.default
        self.until = self.now() + wait


def answer_json(resp: httpx.Response, what: str) -> dict[str, object]:
    """The JSON object of a 2xx answer; otherwise a :class:`ProviderHTTPError` that carries
    the status and the provider's first error code when its body has one."""
    try:
        # Decimal for every JSON number: a charge never passes through a float.
        data = json.loads(resp.content, parse_float=Decimal)
    except ValueError:
        data = None
    if resp.is_success and isinstance(data, dict):
        return data
    code = error_code(data)
    detail = f" {code}" if code else ""
    if resp.is_success:
        raise ProviderHTTPError(f"{what}: answer is not a JSON object", resp.status_code)
    raise ProviderHTTPError(f"{what}: HTTP {resp.status_code}{detail}", resp.status_code, code)


def error_code(data: object) -> str | None:
    """The first error code of FedEx's ``{"errors": [{"code"}]}`` or USPS's
    ``{"error": {"code", "errors": [{"code"}]}}`` bodies."""
    if not isinstance(data, dict):
        return None
    errors = data.get("errors")
    if isinstance(data.get("error"), dict):
        nested = data["error"]
        errors = nested.get("errors") or [nested]
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return str(code) if code else None
    return None
