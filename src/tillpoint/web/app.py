"""``create_app()``: the FastAPI application with every router, middleware and handler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from tillpoint.bootstrap import build_runtime
from tillpoint.config import Settings, load_settings
from tillpoint.logs import configure_logging
from tillpoint.payments.public import (
    PaymentGateway,
    SandboxGateway,
    build_gateway,
    process_webhook,
    require_real_gateway,
)
from tillpoint.runtime import Runtime
from tillpoint.security.headers import SecurityHeaders, security_headers
from tillpoint.security.load import LoadMonitor
from tillpoint.sweeper import sweep_forever
from tillpoint.web.admin_pages import router as admin_pages
from tillpoint.web.admission import AdmissionMiddleware
from tillpoint.web.errors import install_error_handlers
from tillpoint.web.metrics import MetricsMiddleware
from tillpoint.web.middleware import BodyLimitMiddleware, CSRFMiddleware
from tillpoint.web.openapi import document_layers
from tillpoint.web.pages import router as pages
from tillpoint.web.redirects import install_slash_redirects
from tillpoint.web.request_guards import CookieGuardMiddleware, HostGuardMiddleware
from tillpoint.web.routers import (
    account,
    admin_api_keys,
    admin_audit,
    admin_catalog,
    admin_coupons,
    admin_inventory,
    admin_orders,
    admin_webhooks,
    auth,
    cart,
    catalog,
    checkout,
    checkout_sessions,
    coupons,
    docs,
    inventory,
    ops,
    orders,
    payments,
    session,
)
from tillpoint.web.screening import screen_request
from tillpoint.web.security_middleware import RateLimitMiddleware, SecurityHeadersMiddleware


class TillpointApp(FastAPI):
    """FastAPI with the security headers wrapped around *everything*, including the 500
    answers Starlette's outermost error middleware writes."""

    security_headers: SecurityHeaders

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), self.security_headers)

    def openapi(self) -> dict[str, Any]:
        return document_layers(super().openapi())  # statuses and rules every route shares


log = logging.getLogger(__name__)


def _deliver_sandbox_webhooks(app: FastAPI, gateway: PaymentGateway) -> None:
    """The offline sandbox posts its signed events straight into our webhook intake."""
    if not isinstance(gateway, SandboxGateway):
        return

    async def deliver(payload: bytes, signature: str) -> None:
        try:
            await process_webhook(app.state.runtime, gateway, payload, signature)
        except Exception:  # a delivery failure is logged, like a failed Stripe delivery
            log.exception("sandbox webhook delivery failed")

    gateway.subscribe(deliver)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    gateway: PaymentGateway | None = None,
) -> FastAPI:
    """Build the app. Pass ``runtime`` (from ``bootstrap.build_runtime``) to share one
    (tests); otherwise the composition root builds it at start-up.

    ``gateway``, without a runtime: defaults to the one the settings choose (Stripe with a
    key, else the sandbox); a runtime handed in brings its own.
    Production settings without a real gateway raise :class:`UnsafeForProduction`.
    """
    settings = runtime.settings if runtime is not None else (settings or load_settings())
    configure_logging(settings.log_level)
    chosen = runtime.gateway if runtime is not None else (gateway or build_gateway(settings))
    require_real_gateway(settings, chosen)  # production never serves the sandbox
    monitor = LoadMonitor(
        in_flight_threshold=settings.rate_limit_adaptive_in_flight,
        lag_threshold_ms=settings.rate_limit_adaptive_lag_ms,
        surge_multiplier=settings.rate_limit_surge_multiplier,
        enabled=settings.rate_limit_adaptive,
    )
    app = TillpointApp(
        title="tillpoint",
        version="0.1.0",
        summary="Checkout API: bag, checkout, stock, coupons, tax, shipping, payments.",
        lifespan=_lifespan(settings, runtime, chosen, monitor),
        # Served by routers/docs.py: from the package (offline), and only if allowed.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(screen_request)],  # every route's input, before anything else
    )
    app.security_headers = security_headers(settings)
    app.state.load_monitor = monitor
    if runtime is not None:
        app.state.runtime = runtime
    app.state.gateway = chosen
    _deliver_sandbox_webhooks(app, chosen)
    install_error_handlers(app)
    _add_routes(app, settings)
    _add_middleware(app, settings, monitor)
    return app


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _lifespan(
    settings: Settings, runtime: Runtime | None, gateway: PaymentGateway, monitor: LoadMonitor
) -> Lifespan:
    """Start-up and shut-down: the runtime (built here unless handed in), the sweeper and
    the load monitor as background tasks."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime if runtime is not None else build_runtime(settings, gateway=gateway)
        app.state.runtime = rt
        tasks = []
        if settings.background_tasks:
            tasks.append(asyncio.create_task(sweep_forever(rt, settings.sweep_interval_seconds)))
        if settings.rate_limit_enabled and settings.rate_limit_adaptive:
            tasks.append(
                asyncio.create_task(monitor.run(settings.rate_limit_monitor_interval_seconds))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            limiter = getattr(app.state, "rate_limiter", None)
            if limiter is not None:
                await limiter.aclose()
            if owned:
                await rt.close()

    return lifespan


# Every API router, in the order their routes are matched (the pages' catch-alls last).
_ROUTERS = (
    ops.router,
    session.router,
    auth.router,
    account.router,
    catalog.router,
    cart.router,
    checkout.router,
    coupons.router,
    admin_coupons.router,
    admin_catalog.router,
    inventory.router,
    admin_inventory.router,
    payments.router,
    orders.router,
    admin_orders.router,
    admin_audit.router,
    admin_webhooks.router,
    admin_api_keys.router,
    checkout_sessions.router,
    admin_pages.router,
    pages.router,
)


def _add_routes(app: FastAPI, settings: Settings) -> None:
    for router in _ROUTERS:
        app.include_router(router)
    # The shop's own CSS and JS, compressed (about a third of their size on the wire); the
    # API's small JSON answers are not, as compressing them costs more CPU than it saves.
    app.mount("/static", GZipMiddleware(pages.static_files(), minimum_size=1024), name="static")
    # The dashboard's own assets: apart, so the storefront's pages never carry them.
    app.mount(
        "/admin/static",
        GZipMiddleware(admin_pages.static_files(), minimum_size=1024),
        name="admin-static",
    )
    if (api_docs := docs.docs_router(settings.resolved_api_docs, app.title)) is not None:
        app.include_router(api_docs)
        app.mount(docs.ASSETS, docs.docs_assets(), name="docs-assets")
    install_slash_redirects(app.router, settings.public_base_url)


def _add_middleware(app: FastAPI, settings: Settings, monitor: LoadMonitor) -> None:
    # Added innermost first. Outermost: metrics see everything (security headers wrap even
    # them, see TillpointApp); rate limits count before any work, CSRF failures included;
    # the body limit runs before CSRF reads a form. Admission control queues requests
    # inside the rate limit (a refused request never waits) and ahead of CSRF, whose
    # failures write an audit row. A request for a host we do not serve, or with one of our
    # cookies twice, is refused before anything reads it.
    app.add_middleware(CSRFMiddleware, settings=settings)
    app.add_middleware(AdmissionMiddleware, settings=settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, settings=settings, monitor=monitor)
    app.add_middleware(CookieGuardMiddleware, settings=settings)
    app.add_middleware(HostGuardMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)
