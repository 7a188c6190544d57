"""One simulated shopper: a cookie jar, the CSRF header, and timed requests.

Every request is recorded under its endpoint *template* (``POST /api/cart/items``,
``POST /api/checkout/{id}/events SUBMIT_SHIPPING``) so percentiles group like
with like. An answer outside ``expect`` raises :class:`FlowError`, which ends the
shopper's current flow as failed (the load run counts it and moves on).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from bench.recorder import Recorder


class FlowError(Exception):
    """A request of a flow got an answer the flow cannot continue from."""

    def __init__(self, template: str, status: int | str, code: str | None = None) -> None:
        super().__init__(f"{template} -> {status} {code or ''}".strip())
        self.template = template
        self.status = status
        self.code = code


def error_code_of(response: httpx.Response) -> str | None:
    """Our error body's stable code, if the answer has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None


class Shopper:
    """A browser-like caller over one keep-alive connection; ``new_visit`` forgets cookies."""

    def __init__(self, client: httpx.AsyncClient, recorder: Recorder) -> None:
        self.client = client
        self.recorder = recorder
        self.csrf: str | None = None
        self.session: dict[str, Any] = {}

    async def call(
        self,
        method: str,
        url: str,
        template: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one timed request; raise :class:`FlowError` unless the status is expected."""
        all_headers = dict(headers or {})
        if self.csrf and method not in {"GET", "HEAD"}:
            all_headers["X-CSRF-Token"] = self.csrf
        start = time.perf_counter()
        try:
            response = await self.client.request(method, url, json=json, headers=all_headers)
        except httpx.TransportError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            status = f"transport:{type(exc).__name__}"
            self.recorder.request(template, status, elapsed)
            raise FlowError(template, status) from exc
        self.recorder.request(template, response.status_code, (time.perf_counter() - start) * 1000)
        if response.status_code not in expect:
            raise FlowError(template, response.status_code, error_code_of(response))
        return response

    async def new_visit(self) -> dict[str, Any]:
        """Start as a brand-new guest: no cookies, ``GET /api/session``, keep the CSRF token."""
        self.client.cookies.clear()
        self.csrf = None
        r = await self.call("GET", "/api/session", "GET /api/session")
        self.session = r.json()
        self.csrf = self.session["csrf_token"]
        return self.session


def idempotency_key() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header for a creating POST."""
    return {"Idempotency-Key": uuid.uuid4().hex}
