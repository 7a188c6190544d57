"""The admin dashboard's pages (``/admin``...) and their own assets (``/admin/static``).

Each page is a shell; its lists and forms go through the admin API, which checks the
admin role on every call. The pages check it too, from the live session the cookie opens
(no access token needed: that is the API's job, and the page's script renews it), so an
anonymous visitor is sent to ``/admin/login?next=...`` and a shopper gets a plain 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from tillpoint.auth.public import ADMIN, cookie_names, is_registered_token, load_session
from tillpoint.money_format import negotiate_locale
from tillpoint.runtime import Runtime
from tillpoint.web.deps import RuntimeDep
from tillpoint.web.pages.router import StaticAssets, base_path
from tillpoint.web.routing import TypedPathRoute
from tillpoint.webhooks import public as webhooks_public

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(route_class=TypedPathRoute)

ObjectId = Annotated[str, PathParam(max_length=40, pattern=r"^[0-9A-Za-z_\-]+$")]

# The nav, in order: (path, label, template that marks it current).
NAV = (
    ("/admin", "Home", "home.html"),
    ("/admin/orders", "Orders", "orders.html"),
    ("/admin/products", "Products", "products.html"),
    ("/admin/coupons", "Coupons", "coupons.html"),
    ("/admin/webhooks", "Webhooks", "webhooks.html"),
    ("/admin/api-keys", "API keys", "api_keys.html"),
    ("/admin/audit", "Audit log", "audit.html"),
)
_SECTION = {
    "order.html": "orders.html",
    "product.html": "products.html",
    "webhook.html": "webhooks.html",
}


def static_files() -> StaticAssets:
    """The dashboard's CSS and JS (the storefront's pages never load them)."""
    return StaticAssets(directory=HERE / "static")


def _render(
    request: Request, rt: Runtime, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    locale = negotiate_locale(request.headers.get("accept-language"), rt.settings.shop_locale)
    names = cookie_names(rt.settings)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "page": template,
            "base": base_path(request),
            "section": _SECTION.get(template, template),
            "nav": NAV,
            "shop_name": rt.settings.shop_name,
            "money_locale": locale.replace("_", "-"),
            "currency": rt.settings.default_currency,
            # Page-rendered forms post the double-submit token as ``_csrf``.
            "csrf_token": request.cookies.get(names.csrf, ""),
            **context,
        },
        status_code=status,
    )
    # The security headers default to no-store already; said here too so no later
    # "public" path rule can ever make an admin page cacheable.
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"{base_path(request)}/admin/login"
    response = RedirectResponse(f"{login}?next={quote(target, safe='')}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _refused(request: Request, rt: Runtime) -> Response | None:
    """A redirect to sign in (no live registered session), the 403 page (not an admin),
    or None: the caller is a signed-in admin."""
    token = request.cookies.get(cookie_names(rt.settings).session)
    live = await load_session(rt, token) if token and is_registered_token(token) else None
    if live is None:
        return _login_redirect(request)
    if live.role != ADMIN:
        return _render(request, rt, "forbidden.html", status=403, title="Not an admin")
    return None


async def _admin_page(
    request: Request, rt: Runtime, template: str, title: str, **context: Any
) -> Response:
    refused = await _refused(request, rt)
    if refused is not None:
        return refused
    return _render(request, rt, template, title=title, **context)


@router.get("/admin/login", response_class=HTMLResponse, include_in_schema=False)
async def admin_login(request: Request, rt: RuntimeDep) -> Response:
    """Sign in as the shop's admin (``?next=`` a page of this shop to go on to)."""
    return _render(request, rt, "login.html", title="Sign in")


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_home(request: Request, rt: RuntimeDep) -> Response:
    """Today's orders and revenue, and how many orders wait to be shipped."""
    return await _admin_page(request, rt, "home.html", "Dashboard")


@router.get("/admin/orders", response_class=HTMLResponse, include_in_schema=False)
async def admin_orders(request: Request, rt: RuntimeDep) -> Response:
    """Orders, newest first, with filters, search and paging."""
    return await _admin_page(request, rt, "orders.html", "Orders")


@router.get("/admin/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
async def admin_order(request: Request, rt: RuntimeDep, order_id: ObjectId) -> Response:
    """One order: lines, payments, refunds, shipments, history; fulfil, cancel, refund."""
    return await _admin_page(request, rt, "order.html", "Order", object_id=order_id)


@router.get("/admin/products", response_class=HTMLResponse, include_in_schema=False)
async def admin_products(request: Request, rt: RuntimeDep) -> Response:
    """Products with search, and a short form to add one."""
    return await _admin_page(request, rt, "products.html", "Products")


@router.get("/admin/products/{product_id}", response_class=HTMLResponse, include_in_schema=False)
async def admin_product(request: Request, rt: RuntimeDep, product_id: ObjectId) -> Response:
    """Edit one product: every field, images, variants and stock."""
    return await _admin_page(request, rt, "product.html", "Product", object_id=product_id)


@router.get("/admin/coupons", response_class=HTMLResponse, include_in_schema=False)
async def admin_coupons(request: Request, rt: RuntimeDep) -> Response:
    """Coupons: list, create, deactivate."""
    return await _admin_page(request, rt, "coupons.html", "Coupons")


@router.get("/admin/webhooks", response_class=HTMLResponse, include_in_schema=False)
async def admin_webhooks(request: Request, rt: RuntimeDep) -> Response:
    """Webhook endpoints: list, add, rotate the secret, disable."""
    events = [event.value for event in webhooks_public.EventType]
    return await _admin_page(request, rt, "webhooks.html", "Webhooks", events=events)


@router.get("/admin/api-keys", response_class=HTMLResponse, include_in_schema=False)
async def admin_api_keys(request: Request, rt: RuntimeDep) -> Response:
    """API keys for /api/v1: list, create (the secret shown once), revoke."""
    return await _admin_page(request, rt, "api_keys.html", "API keys")


@router.get("/admin/webhooks/{endpoint_id}", response_class=HTMLResponse, include_in_schema=False)
async def admin_webhook(request: Request, rt: RuntimeDep, endpoint_id: ObjectId) -> Response:
    """One endpoint's deliveries."""
    return await _admin_page(request, rt, "webhook.html", "Webhook", object_id=endpoint_id)


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
async def admin_audit(request: Request, rt: RuntimeDep) -> Response:
    """The audit trail with its filters, and a check of its hash chain."""
    return await _admin_page(request, rt, "audit.html", "Audit log")
