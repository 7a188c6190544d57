"""Test helpers shared by every level: a movable clock and a session-aware API client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# What a production shop must configure: a secret, its public base URL and a live Stripe
# account. Tests that run the app in production mode start from these settings.
LIVE_PRODUCTION: dict[str, Any] = {
    "mode": "production",
    "secret_key": "production-secret-key-that-is-long-enough-0123456789",
    "public_base_url": "https://shop.example.com",
    "stripe_secret_key": "sk_live_primary_12345",
    "stripe_publishable_key": "pk_live_primary_12345",
    "stripe_webhook_secret": "whsec_live_primary",
}


class MovableClock:
    """A clock tests move by hand (``advance``); starts at a fixed instant."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class Api:
    """An httpx client for one browser-like caller: cookies, CSRF header, JSON helpers."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf: str | None = None
        self.session: dict[str, Any] = {}

    async def start(self) -> dict[str, Any]:
        """GET /api/session and remember the CSRF token, as the page's JS does."""
        r = await self.client.get("/api/session")
        assert r.status_code == 200, r.text
        self.session = r.json()
        self.csrf = self.session["csrf_token"]
        self.client.headers["X-CSRF-Token"] = self.csrf
        return self.session

    def adopt(self, body: dict[str, Any]) -> None:
        """Take the new CSRF token a login/register/logout answer hands out."""
        self.csrf = body["csrf_token"]
        self.client.headers["X-CSRF-Token"] = body["csrf_token"]

    async def register(self, email: str, password: str) -> httpx.Response:
        """POST /api/auth/register; on success the caller is logged in (new CSRF token)."""
        r = await self.client.post(
            "/api/auth/register", json={"email": email, "password": password}
        )
        if r.status_code == 201:
            self.adopt(r.json())
        return r

    async def login(self, email: str, password: str) -> httpx.Response:
        """POST /api/auth/login; on success the caller is logged in (new CSRF token)."""
        r = await self.client.post("/api/auth/login", json={"email": email, "password": password})
        if r.status_code == 200:
            self.adopt(r.json())
        return r

    async def logout(self) -> httpx.Response:
        r = await self.client.post("/api/auth/logout")
        if r.status_code == 200:
            self.adopt(r.json())
        return r

    def set_cookie(self, name: str, value: str, path: str = "/") -> None:
        """Hold ``value`` under ``name`` in place of the cookie the server set, as a browser
        does: two cookies of one name would make every request ambiguous (400)."""
        self.client.cookies.delete(name)
        self.client.cookies.set(name, value, path=path)

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, **kw)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.post(url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.patch(url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.put(url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(url, **kw)


def error_code(response: httpx.Response) -> str:
    """The stable error code of an error answer (fails loudly if the shape is wrong)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    return str(body["error"]["code"])


_PATH_EXAMPLES = {
    "^pm_[0-9A-Za-z_]+$": "pm_card_visa",
    "^[A-Za-z]{2}$": "US",
    "^[0-9A-Za-z_:.-]+$": "hold:cart_x:v1",
    "^([0-9]{1,12}|[0-9]*[A-Za-z][A-Za-z0-9_.:-]*)$": "prod_" + "A" * 22,
    "^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$": "SKU-1",
    "^[A-Za-z0-9_-]+$": "webhook-token-0123456789abcdef",
    # A checkout session id: any printable text reaches the handler (404 in its own code).
    "^[^\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*$": "cs_" + "A" * 22,
}


def path_example(schema: dict[str, object]) -> str:
    """A value that fits an OpenAPI path parameter's schema (our id shapes)."""
    pattern = str(schema.get("pattern", ""))
    prefixed = re.fullmatch(r"\^([a-z]+)_\[0-9A-Za-z\]\{22\}\$", pattern)
    if prefixed:
        return f"{prefixed.group(1)}_{'A' * 22}"
    return _PATH_EXAMPLES[pattern]
