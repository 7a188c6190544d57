"""Checks on what a client says about the request itself, before anything reads it.

- ``HostGuardMiddleware``: the ``Host`` header must name an allowed host (400
  ``host_not_allowed``), so no answer is ever built for a host an attacker picked. Health
  checks and metrics are exempt: load balancers and scrapers name the instance's address.
- ``CookieGuardMiddleware``: a request that carries one of our cookie names twice is
  refused (400 ``ambiguous_cookies``) before the rate limiter, the CSRF check or a handler
  reads it. Reading one of them everywhere would stop the CSRF check and the handler from
  disagreeing, but would still let a planted cookie choose the session the customer acts
  in: no rule for picking one of two is safe, so we pick none.
"""

from __future__ import annotations

from tillpoint.auth.public import cookie_names, repeated_names
from tillpoint.config import Settings
from tillpoint.security.origins import host_allowed
from tillpoint.security.ratelimit import OPS_PATHS
from tillpoint.web.middleware import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    _cookie_headers,
    _header,
    _send_error,
    route_path,
)


class HostGuardMiddleware:
    """400 ``host_not_allowed`` unless the ``Host`` header names an allowed host (a
    WebSocket handshake: 403, as a page rebound to our address would name another host)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.resolved_allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and route_path(scope) not in OPS_PATHS
            and not host_allowed(_header(scope, b"host"), self.allowed)
        ):
            await _send_error(send, 400, "host_not_allowed", "This host name is not served here.")
            return
        if scope["type"] == "websocket" and not host_allowed(_header(scope, b"host"), self.allowed):
            # Before the handshake is accepted, a close is answered 403.
            await send({"type": "websocket.close", "code": 1008, "reason": "host_not_allowed"})
            return
        await self.app(scope, receive, send)


class CookieGuardMiddleware:
    """400 ``ambiguous_cookies`` when a request carries one of our cookies twice."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.names = cookie_names(settings).all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _cookie_headers(scope) if scope["type"] == "http" else []
        repeated = repeated_names(headers, self.names) if headers else []
        if repeated:
            await _send_error(
                send,
                400,
                "ambiguous_cookies",
                f"Your browser sent the cookie {repeated[0]} twice, so we cannot tell which "
                "session this is. Clear this site's cookies and reload the page.",
                details={"cookies": repeated},
            )
            return
        await self.app(scope, receive, send)
