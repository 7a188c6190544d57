"""Request counters and latency histograms for ``/metrics``, labelled by route template."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.routing import Match

from tillpoint.web.middleware import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("tillpoint_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "tillpoint_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def _route_template(scope: Scope) -> str:
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # The router records the route it matched in the (shared) scope; matching every
            # route again per request is the slow fallback for answers given before routing.
            matched = getattr(scope.get("route"), "path", None)
            route = matched if isinstance(matched, str) else _route_template(scope)
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - start)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
