"""Serving tillpoint inside an existing ASGI application (FastAPI, Starlette) under a path.

    from fastapi import FastAPI
    from tillpoint.web.mount import mount_tillpoint

    shop = FastAPI()
    mount_tillpoint(shop, "/checkout")  # the storefront, API and admin under /checkout

The two share the process and nothing else: tillpoint keeps its own settings, database,
Redis, cookies, middleware and error pages; its pages, links, redirects, cookies and the
page scripts' API calls follow the prefix (ASGI ``root_path``). Starlette runs only the
outermost application's lifespan, so a mounted app would never open its database or start
its sweeper: :func:`mount_tillpoint` chains tillpoint's lifespan into the host's. A host
that wants to order start-up itself enters :func:`tillpoint_lifespan` in its own lifespan.
See docs/integration.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette

from tillpoint.config import Settings
from tillpoint.web.app import create_app


def tillpoint_lifespan(app: FastAPI) -> AbstractAsyncContextManager[Any]:
    """Start-up and shut-down of a mounted tillpoint ``app`` (runtime, sweeper, load
    monitor): ``async with tillpoint_lifespan(app): yield`` in the host's lifespan."""
    return app.router.lifespan_context(app)


def mount_tillpoint(
    host: Starlette,
    path: str,
    app: FastAPI | None = None,
    *,
    settings: Settings | None = None,
) -> FastAPI:
    """Mount tillpoint (``app``, else ``create_app(settings)``) at ``path`` of ``host`` and
    run its lifespan inside the host's (the host starts first and stops last). Call it
    before the server starts. Returns the mounted app."""
    if not path.startswith("/") or path.endswith("/") or "//" in path:
        raise ValueError(f"mount path {path!r} must look like /checkout (no trailing slash)")
    tillpoint = app if app is not None else create_app(settings)
    host.mount(path, tillpoint, name="tillpoint")
    outer = host.router.lifespan_context

    @asynccontextmanager
    async def lifespan(host_app: Any) -> AsyncIterator[Any]:
        async with outer(host_app) as state, tillpoint_lifespan(tillpoint):
            yield state

    host.router.lifespan_context = lifespan
    return tillpoint
