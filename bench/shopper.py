"""One simulated shopper: a cookie jar, the CSRF header, and timed requests.

Every request is recorded under its endpoint *template* (``POST /api/cart/items``,
``POST /api/checkout/{id}/events SUBMIT_SHIPPING``) so percentiles group like
with like. An answer outside ``expect`` raises :class:`FlowError`, which ends the
shopper's current flow as failed (the load run counts it and moves on).

Two HTTP clients can carry the shopper: ``aiohttp`` (the default: it costs the
load generator about a third of httpx's CPU per request, and the load generator
shares the machine with the server it measures) and ``httpx`` (also used in
process, over ASGI, by ``bench queries``).
"""

from __future__ import annotations

import json as jsonlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

from bench.recorder import Recorder


class FlowError(Exception):
    """A request of a flow got an answer the flow cannot continue from."""

    def __init__(self, template: str, status: int | str, code: str | None = None) -> None:
        super().__init__(f"{template} -> {status} {code or ''}".strip())
        self.template = template
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Answer:
    """A response, whichever client fetched it."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.content)


def error_code_of(answer: Answer) -> str | None:
    """Our error body's stable code, if the answer has one."""
    try:
        body = answer.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None


class Transport(Protocol):
    async def request(
        self, method: str, url: str, json: Any, headers: dict[str, str]
    ) -> Answer: ...

    def forget_cookies(self) -> None: ...


class HttpxTransport:
    """Over an ``httpx.AsyncClient`` (a real server, or an app in process over ASGI)."""

    errors = (httpx.TransportError,)

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, url: str, json: Any, headers: dict[str, str]) -> Answer:
        r = await self.client.request(method, url, json=json, headers=headers)
        return Answer(r.status_code, r.content)

    def forget_cookies(self) -> None:
        self.client.cookies.clear()


class AiohttpTransport:
    """Over one keep-alive ``aiohttp`` connection."""

    errors = (aiohttp.ClientError, TimeoutError)

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request(self, method: str, url: str, json: Any, headers: dict[str, str]) -> Answer:
        async with self.session.request(method, url, json=json, headers=headers) as r:
            return Answer(r.status, await r.read())

    def forget_cookies(self) -> None:
        self.session.cookie_jar.clear()


@asynccontextmanager
async def open_transport(
    kind: str, url: str, request_timeout: float
) -> AsyncIterator[HttpxTransport | AiohttpTransport]:
    """One shopper's connection to ``url`` (``kind`` is ``aiohttp`` or ``httpx``)."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=request_timeout, limits=limits) as c:
            yield HttpxTransport(c)
        return
    # unsafe=True: keep cookies set by a server addressed by IP (127.0.0.1).
    async with aiohttp.ClientSession(
        base_url=url,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(limit=1),
        timeout=aiohttp.ClientTimeout(total=request_timeout),
    ) as session:
        yield AiohttpTransport(session)


class Shopper:
    """A browser-like caller; ``new_visit`` forgets its cookies and starts a new guest."""

    def __init__(self, transport: HttpxTransport | AiohttpTransport, recorder: Recorder) -> None:
        self.transport = transport
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
    ) -> Answer:
        """Send one timed request; raise :class:`FlowError` unless the status is expected."""
        all_headers = dict(headers or {})
        if self.csrf and method not in {"GET", "HEAD"}:
            all_headers["X-CSRF-Token"] = self.csrf
        start = time.perf_counter()
        try:
            answer = await self.transport.request(method, url, json, all_headers)
        except self.transport.errors as exc:
            elapsed = (time.perf_counter() - start) * 1000
            status = f"transport:{type(exc).__name__}"
            self.recorder.request(template, status, elapsed)
            raise FlowError(template, status) from exc
        self.recorder.request(template, answer.status_code, (time.perf_counter() - start) * 1000)
        if answer.status_code not in expect:
            raise FlowError(template, answer.status_code, error_code_of(answer))
        return answer

    async def new_visit(self) -> dict[str, Any]:
        """Start as a brand-new guest: no cookies, ``GET /api/session``, keep the CSRF token."""
        self.transport.forget_cookies()
        self.csrf = None
        r = await self.call("GET", "/api/session", "GET /api/session")
        self.session = r.json()
        self.csrf = self.session["csrf_token"]
        return self.session


def idempotency_key() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header for a creating POST."""
    return {"Idempotency-Key": uuid.uuid4().hex}
