"""Checkout over HTTP: start, read, the one event write path, shipping options.

The event body is a discriminated union on ``type`` (``checkout/commands.py``, visible in
OpenAPI); each member validates its own fields and refuses unknown ones, and the service
receives the validated command itself.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from tillpoint.checkout import public as checkout_public
from tillpoint.checkout.public import CheckoutCommand, CheckoutOut, CheckoutView, Event
from tillpoint.money_format import negotiate_locale
from tillpoint.web.deps import IfMatchDep, RuntimeDep, SessionDep, request_actor
from tillpoint.web.openapi import link
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import error_responses

_TAGS = {e.value for e in Event} | {"card", "saved"}


class EventRoute(TypedPathRoute):
    """Field paths without the union's tag: ``["address", "zip_code"]``, not
    ``["SUBMIT_SHIPPING", "address", "zip_code"]``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = []
                for err in exc.errors():
                    loc = [p for p in err.get("loc", ()) if not (isinstance(p, str) and p in _TAGS)]
                    errors.append({**err, "loc": tuple(loc)})
                raise RequestValidationError(errors, body=exc.body) from exc

        return route


CheckoutId = Annotated[str, Path(max_length=40, pattern=r"^chk_[0-9A-Za-z]{22}$")]
router = APIRouter(prefix="/api/checkout", tags=["checkout"], route_class=EventRoute)


class ShippingOptionsOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
    source: str
    fallback_reason: str | None = None


ERRORS = error_responses(400, 401, 403, 404, 409, 412, 422, 503)


def _answer(response: Response, view: CheckoutView) -> CheckoutOut:
    response.headers["ETag"] = f'"{view.version}"'
    response.headers["Cache-Control"] = "no-store"
    return CheckoutOut.of(view)


_NEXT = {
    "GetCheckout": link("get", "/api/checkout/{checkout_id}", checkout_id="$response.body#/id"),
    "SendEvent": link(
        "post", "/api/checkout/{checkout_id}/events", checkout_id="$response.body#/id"
    ),
    "ShippingOptions": link(
        "get", "/api/checkout/{checkout_id}/shipping-options", checkout_id="$response.body#/id"
    ),
    "OrderForCheckout": link(
        "get", "/api/orders/by-checkout/{checkout_id}", checkout_id="$response.body#/id"
    ),
}
_STARTED: dict[int | str, dict[str, Any]] = {
    201: {"links": _NEXT},
    200: {
        "model": CheckoutOut,
        "description": "The cart's live checkout, started before.",
        "links": _NEXT,
    },
}


@router.post("", response_model=CheckoutOut, status_code=201, responses={**_STARTED, **ERRORS})
async def start_checkout(
    request: Request, response: Response, rt: RuntimeDep, session: SessionDep
) -> CheckoutOut:
    """Start a checkout of the session's cart (PROCEED_TO_CHECKOUT); 200 with the live
    one if this cart already has one (so retrying is safe)."""
    locale = negotiate_locale(request.headers.get("accept-language"), rt.settings.shop_locale)
    view, created = await checkout_public.start_checkout(
        rt, session, actor=request_actor(request, session), locale=locale
    )
    if not created:
        response.status_code = 200
    return _answer(response, view)


@router.get("/{checkout_id}", response_model=CheckoutOut, responses=ERRORS)
async def get_checkout(
    checkout_id: CheckoutId, response: Response, rt: RuntimeDep, session: SessionDep
) -> CheckoutOut:
    """State, context, totals priced now, ``allowed_events`` and ``version``."""
    return _answer(response, await checkout_public.get_checkout(rt, session, checkout_id))


@router.post("/{checkout_id}/events", response_model=CheckoutOut, responses=ERRORS)
async def send_event(
    checkout_id: CheckoutId,
    body: Annotated[CheckoutCommand, Body()],
    request: Request,
    response: Response,
    rt: RuntimeDep,
    session: SessionDep,
    if_match: IfMatchDep,
) -> CheckoutOut:
    """Drive the checkout. 409 not allowed now (with ``allowed_events``), 422 guard failed,
    412 stale ``If-Match``, 403 for server-only events."""
    view = await checkout_public.send_event(
        rt,
        session,
        checkout_id,
        body,  # the validated command itself, not a dict to validate again
        if_match=if_match,
        actor=request_actor(request, session),
    )
    return _answer(response, view)


@router.get("/{checkout_id}/shipping-options", response_model=ShippingOptionsOut, responses=ERRORS)
async def shipping_options(
    checkout_id: CheckoutId, rt: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    """The shipping options for the checkout's address and cart, with delivery windows."""
    quote = await checkout_public.shipping_options(rt, session, checkout_id)
    return {
        "items": [o.to_json() for o in quote.options],
        "next_cursor": None,
        "source": quote.source,
        "fallback_reason": quote.fallback_reason,
    }
