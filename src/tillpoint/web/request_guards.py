"""Checks on what a client says about the request itself, before anything reads it.

- ``HostGuardMiddleware``: the ``Host`` header must name an allowed host (400
  ``host_not_allowed``), so no answer is ever built for a host an attacker picked. Health
  checks and metrics are exempt: load balancers and scrapers name the instance's address.
"""

from __future__ import annotations

from tillpoint.config import Settings
from tillpoint.security.origins import host_allowed
from tillpoint.security.ratelimit import OPS_PATHS
from tillpoint.web.middleware import ASGIApp, Receive, Scope, Send, _header, _send_error


class HostGuardMiddleware:
    """400 ``host_not_allowed`` unless the ``Host`` header names an allowed host."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.resolved_allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] not in OPS_PATHS
            and not host_allowed(_header(scope, b"host"), self.allowed)
        ):
            await _send_error(send, 400, "host_not_allowed", "This host name is not served here.")
            return
        await self.app(scope, receive, send)
