"""ASGI middleware for security headers and rate limits (the rules live in ``security/``)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from starlette.datastructures import MutableHeaders

from tillpoint.audit.events import SecurityEventType
from tillpoint.audit.service import Actor, log_security_event
from tillpoint.auth.public import cookie_names, is_registered_token, session_cache, session_id_for
from tillpoint.auth.public import guest_session_cache as guest_cache
from tillpoint.config import Settings
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import Attempt
from tillpoint.security.client_ip import parse_networks, resolve_client_ip
from tillpoint.security.headers import SecurityHeaders
from tillpoint.security.load import LoadMonitor
from tillpoint.security.ratelimit import (
    LimitRule,
    LimitState,
    RateLimiter,
    rules_for_request,
    wait_words,
)
from tillpoint.web.middleware import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    _cookies,
    _header,
    route_path,
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, headers: SecurityHeaders) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers.for_path(route_path(scope))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


# ``scope["state"]`` key: Redis values the rate limiter read for the request's later steps.
PREFETCHED = "redis_prefetched"


def rate_limiter_for(app: Any) -> RateLimiter:
    """The app's limiter, built on first use from its runtime (Redis when configured)."""
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is None:
        rt: Runtime = app.state.runtime
        limiter = RateLimiter.from_settings(
            rt.settings, redis=rt.redis, monitor=getattr(app.state, "load_monitor", None)
        )
        app.state.rate_limiter = limiter
    return limiter


def client_ip_of(scope: Scope, trusted: Any) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    # Several X-Forwarded-For lines are one list (a proxy may add its own line below the
    # client's): read them all, or the client's own first line would pick its address.
    lines = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
    return resolve_client_ip(peer, ", ".join(lines) or None, trusted)


def _tightest(states: list[LimitState]) -> LimitState:
    return min(states, key=lambda st: (st.remaining, -st.reset_after))


def _limit_headers(state: LimitState) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(state.limit),
        "RateLimit-Remaining": str(max(state.remaining, 0)),
        "RateLimit-Reset": str(state.reset_after),
    }


class RateLimitMiddleware:
    """Counts each request against its rules before it runs; over a limit answers 429
    (``rate_limited``) with ``Retry-After`` and ``RateLimit-*``. Skip-successful rules take
    a slot up front (refused if failures and requests in flight fill the limit), which
    counts if the response turns out unsuccessful (>= 400) and is given back otherwise.
    Also resolves the client IP once (``scope["state"]["client_ip"]``) and tracks load."""

    def __init__(self, app: ASGIApp, settings: Settings, monitor: LoadMonitor) -> None:
        self.app = app
        self.settings = settings
        self.monitor = monitor
        self.trusted = parse_networks(settings.trusted_proxies.split(","))
        self.session_cookie = cookie_names(settings).session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ip = client_ip_of(scope, self.trusted)
        scope.setdefault("state", {})["client_ip"] = ip
        # An open event stream is an idle connection, not load: leave it out of in-flight.
        if "text/event-stream" in (_header(scope, b"accept") or ""):
            await self._limited(scope, receive, send, ip)
            return
        self.monitor.request_started()
        try:
            await self._limited(scope, receive, send, ip)
        finally:
            self.monitor.request_finished()

    def _session(self, scope: Scope) -> tuple[str | None, list[str]]:
        """The caller's session id, and its session-cache keys to read with the counts
        (the session dependency then needs no Redis round trip of its own)."""
        token = _cookies(scope).get(self.session_cookie)
        if not token or len(token) > 128:
            return None, []
        session_id = session_id_for(token)
        cache = session_cache if is_registered_token(token) else guest_cache
        return session_id, cache.keys_for(session_id)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, ip: str) -> None:
        limiter = rate_limiter_for(scope["app"])
        rules = rules_for_request(limiter.rules, scope["method"], route_path(scope))
        if not limiter.enabled or not rules:
            await self.app(scope, receive, send)
            return
        session_id, read = self._session(scope)
        counted: list[tuple[LimitRule, str, LimitState]] = []
        # Session rules key by the session; without a session cookie there is no session
        # budget to count, and the address ceiling alone applies.
        pairs = [
            (rule, f"session:{session_id}" if rule.by_session else f"ip:{ip}")
            for rule in rules
            if session_id or not rule.by_session
        ]
        if not any(rule.skip_successful for rule, _ in pairs):
            # The usual case: every limit counted in one round trip (up to a refusal).
            states, values = await limiter.consume_many_and_read(
                [(rule.name, key) for rule, key in pairs], read
            )
            if values is not None:
                scope["state"][PREFETCHED] = values
            for (rule, key), state in zip(pairs, states, strict=False):
                if not state.allowed:
                    await self._refuse(scope, send, limiter, state, key, ip, session_id)
                    return
                counted.append((rule, key, state))
        else:
            slots: dict[int, Attempt] = {}  # index in counted -> its slot
            for rule, key in pairs:
                if rule.skip_successful:
                    state, slot = await limiter.admit(rule.name, key)
                else:
                    state, slot = await limiter.consume(rule.name, key), None
                if not state.allowed:
                    for held in slots.values():
                        await limiter.settle(held, failed=False)
                    await self._refuse(scope, send, limiter, state, key, ip, session_id)
                    return
                if slot is not None:
                    slots[len(counted)] = slot
                counted.append((rule, key, state))
            await self._run_holding(scope, receive, send, limiter, counted, slots)
            return

        async def with_limit_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                states = [st for _, _, st in counted]
                for name, value in _limit_headers(_tightest(states)).items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_limit_headers)

    async def _run_holding(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limiter: RateLimiter,
        counted: list[tuple[LimitRule, str, LimitState]],
        slots: dict[int, Attempt],
    ) -> None:
        """Run the request holding its skip-successful slots: an unsuccessful answer
        (>= 400) turns them into failures, any other end gives them back."""
        states = [st for _, _, st in counted]

        async def settle_and_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                failed = message["status"] >= 400
                for i in list(slots):
                    states[i] = await limiter.settle(slots.pop(i), failed=failed)
                headers = MutableHeaders(scope=message)
                for name, value in _limit_headers(_tightest(states)).items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, settle_and_send)
        finally:
            for slot in slots.values():  # no answer was sent (the request died)
                await limiter.settle(slot, failed=False)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        limiter: RateLimiter,
        state: LimitState,
        key: str,
        ip: str,
        session_id: str | None,
    ) -> None:
        # One number of seconds for the body, Retry-After and RateLimit-Reset.
        state = replace(state, reset_after=max(state.reset_after, 1))
        retry_after = state.reset_after
        body = json.dumps(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"Too many requests — try again in {wait_words(retry_after)}.",
                    "fields": [],
                    "details": {"limit": state.rule, "retry_after": retry_after},
                }
            }
        ).encode()
        headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "retry-after": str(retry_after),
            **{k.lower(): v for k, v in _limit_headers(state).items()},
        }
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})
        window = max(state.reset_after, 60)
        if await limiter.once(f"{state.rule}-audit", key, window):
            rt: Runtime = scope["app"].state.runtime
            await log_security_event(
                rt,
                SecurityEventType.rate_limited,
                actor=Actor(
                    session_id=session_id,
                    ip_address=ip,
                    user_agent=_header(scope, b"user-agent"),
                ),
                entity_type="client",
                entity_id=ip,
                metadata={
                    "limit": state.rule,
                    "max_requests": state.limit,
                    "blocked": state.blocked,
                    "method": scope["method"],
                    "path": scope["path"][:200],
                },
            )
