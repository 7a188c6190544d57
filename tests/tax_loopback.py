"""A loopback HTTP server for the tax providers' tests (AvaTax, TaxJar): each test module
adds the provider's documented routes; every request is kept (method, path, headers,
JSON body parsed with ``Decimal``), and a test may script the next answers of a route
(an error status with the provider's error body, or ``HANG`` for a timeout)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

HANG = -1  # a scripted "status": never answer (the client's timeout fires)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Route = Callable[[Seen, dict[str, str]], Awaitable[tuple[int, Any]]]


@dataclass
class Loopback:
    base: str = ""
    seen: list[Seen] = field(default_factory=list)
    scripted: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def script(self, name: str, status: int, body: Any = None) -> None:
        """The next answer of route ``name`` (then the route's own behaviour again)."""
        self.scripted.setdefault(name, []).append((status, body))

    def calls(self, name_prefix: str) -> list[Seen]:
        return [s for s in self.seen if f"{s.method} {s.path}".startswith(name_prefix)]


def _answer(status: int, body: Any) -> web.Response:
    if isinstance(body, str):
        return web.Response(status=status, text=body, content_type="text/html")
    if body is None:
        return web.Response(status=status)
    return web.Response(
        status=status, text=json.dumps(body, default=str), content_type="application/json"
    )


@asynccontextmanager
async def serve(routes: list[tuple[str, str, str, Route]]) -> AsyncIterator[Loopback]:
    """Serve ``routes`` — (name, method, path pattern, behaviour) — on 127.0.0.1."""
    box = Loopback()

    def handler(name: str, behaviour: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            body = json.loads(raw, parse_float=Decimal) if raw else None
            seen = Seen(request.method, request.path, dict(request.headers), body)
            box.seen.append(seen)
            queue = box.scripted.get(name) or []
            if queue:
                status, answer = queue.pop(0)
                if status == HANG:
                    await box.release.wait()
                    return web.Response(status=504)
                return _answer(status, answer)
            status, answer = await behaviour(seen, dict(request.match_info))
            return _answer(status, answer)

        return handle

    app = web.Application()
    for name, method, path, behaviour in routes:
        app.router.add_route(method, path, handler(name, behaviour))
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.base = f"http://127.0.0.1:{port}"
    try:
        yield box
    finally:
        box.release.set()
        await runner.cleanup()
