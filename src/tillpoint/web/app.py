"""``create_app()``: the FastAPI application with every router, middleware and handler."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tillpoint.config import Settings, load_settings
from tillpoint.inventory import checkout_stock
from tillpoint.logs import configure_logging
from tillpoint.runtime import Runtime
from tillpoint.sweeper import sweep_forever
from tillpoint.web.errors import install_error_handlers
from tillpoint.web.metrics import MetricsMiddleware
from tillpoint.web.middleware import BodyLimitMiddleware, CSRFMiddleware
from tillpoint.web.pages import router as pages
from tillpoint.web.routers import (
    admin_coupons,
    admin_inventory,
    auth,
    cart,
    catalog,
    checkout,
    coupons,
    inventory,
    ops,
    session,
)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Pass ``runtime`` to share one (tests); otherwise it is opened at start-up."""
    settings = runtime.settings if runtime is not None else (settings or load_settings())
    configure_logging(settings.log_level)
    checkout_stock.install()  # stock effects on the checkout's transitions

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime if runtime is not None else Runtime.from_settings(settings)
        app.state.runtime = rt
        sweeper = (
            asyncio.create_task(sweep_forever(rt, settings.sweep_interval_seconds))
            if settings.background_tasks
            else None
        )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if owned:
                await rt.close()

    app = FastAPI(
        title="tillpoint",
        version="0.1.0",
        summary="Checkout API: bag, checkout, stock, coupons, tax, shipping, payments.",
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    for router in (
        ops.router,
        session.router,
        auth.router,
        catalog.router,
        cart.router,
        checkout.router,
        coupons.router,
        admin_coupons.router,
        inventory.router,
        admin_inventory.router,
        pages.router,
    ):
        app.include_router(router)
    app.mount("/static", pages.static_files(), name="static")
    # Outermost first: metrics see everything, the body limit runs before CSRF reads a form.
    app.add_middleware(CSRFMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    return app
