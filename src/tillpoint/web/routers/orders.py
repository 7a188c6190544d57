"""Orders over HTTP: a user's history, one order (owner, placing session or access
token) and the order a checkout became; staff routes live in ``admin_orders``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from tillpoint.auth.public import SessionContext
from tillpoint.errors import NotFound, Unauthorized
from tillpoint.money_format import negotiate_locale
from tillpoint.orders import public as orders_public
from tillpoint.orders.public import (
    BuyAgainReport,
    LineOutcome,
    Order,
    buy_again,
    order_display_json,
)
from tillpoint.web.deps import RuntimeDep, UserDep, get_session
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(tags=["orders"], route_class=TypedPathRoute)

OrderId = Annotated[str, Path(max_length=40, pattern=r"^ord_[0-9A-Za-z]{22}$")]
CheckoutId = Annotated[str, Path(max_length=40, pattern=r"^chk_[0-9A-Za-z]{22}$")]


async def _optional_session(request: Request, rt: RuntimeDep) -> SessionContext | None:
    """The caller's session if there is a live one (a guest link works without)."""
    try:
        return await get_session(request, rt)
    except Unauthorized:
        return None


def _with_display(
    data: dict[str, Any], order: Order, request: Request, response: Response, rt: RuntimeDep
) -> dict[str, Any]:
    """Adds ``display``: the amounts formatted for the caller's ``Accept-Language`` (or the
    shop's locale) with Babel, and statuses in words, so pages need no formatter of their
    own and read exactly as the emails do. The integers stay the contract."""
    locale = negotiate_locale(request.headers.get("accept-language"), rt.settings.shop_locale)
    data["display"] = order_display_json(order, locale)
    response.headers["Content-Language"] = locale.replace("_", "-")
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    return data


@router.get("/api/orders", responses=error_responses(401))
async def list_orders(
    rt: RuntimeDep,
    session: UserDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=40, pattern=r"^ord_[0-9A-Za-z]{22}$", json_schema_extra=OPAQUE_TOKEN),
    ] = None,
) -> dict[str, Any]:
    """The logged-in user's orders, newest first (``next_cursor`` pages on)."""
    assert session.user_id is not None
    rows, next_cursor = await orders_public.list_orders(
        rt, session.user_id, limit=limit, before=cursor
    )
    return {"items": [orders_public.order_to_dict(o) for o in rows], "next_cursor": next_cursor}


@router.get("/api/orders/by-checkout/{checkout_id}", responses=error_responses(404))
async def order_for_checkout(
    checkout_id: CheckoutId, request: Request, rt: RuntimeDep, response: Response
) -> dict[str, Any]:
    """The order a checkout became, for the browser that placed it, with its access token."""
    session = await _optional_session(request, rt)
    if session is None:
        raise NotFound("No such order.", code="order_not_found")
    order = await orders_public.get_order_for_checkout(rt, checkout_id, session=session)
    response.headers["Cache-Control"] = "no-store"
    token = orders_public.order_access_token(rt.settings, order.id)
    return _with_display(
        orders_public.order_to_dict(order, access_token=token), order, request, response, rt
    )


@router.get("/api/orders/{order_id}", responses=error_responses(404))
async def get_order(
    order_id: OrderId,
    request: Request,
    rt: RuntimeDep,
    response: Response,
    token: Annotated[str | None, Query(max_length=80, json_schema_extra=OPAQUE_TOKEN)] = None,
    x_order_token: Annotated[
        str | None, Header(max_length=80, json_schema_extra=OPAQUE_TOKEN)
    ] = None,
) -> dict[str, Any]:
    """One order: its owner, the session that placed it, or a guest with its access token."""
    session = await _optional_session(request, rt)
    order = await orders_public.get_order(
        rt, order_id, session=session, token=x_order_token or token
    )
    response.headers["Cache-Control"] = "no-store"
    return _with_display(orders_public.order_to_dict(order), order, request, response, rt)


class LineOutcomeOut(StrictModel):
    name: str
    quantity: int
    product_id: str
    variant_id: str | None
    code: str | None
    reason: str | None


class BuyAgainOut(StrictModel):
    cart_id: str
    added: list[LineOutcomeOut]
    not_added: list[LineOutcomeOut]


def _outcome(line: LineOutcome) -> LineOutcomeOut:
    return LineOutcomeOut(
        name=line.name,
        quantity=line.quantity,
        product_id=line.product_id,
        variant_id=line.variant_id,
        code=line.code,
        reason=line.reason,
    )


def _buy_again_out(cart_id: str, report: BuyAgainReport) -> BuyAgainOut:
    return BuyAgainOut(
        cart_id=cart_id,
        added=[_outcome(line) for line in report.added],
        not_added=[_outcome(line) for line in report.not_added],
    )


@router.post(
    "/api/orders/{order_id}/buy-again",
    response_model=BuyAgainOut,
    responses=error_responses(401, 403, 404),
)
async def buy_order_again(order_id: OrderId, rt: RuntimeDep, session: UserDep) -> BuyAgainOut:
    """Put the signed-in user's order's lines back into their cart at today's prices;
    ``not_added`` says, in words, which could not be (sold out, no longer sold).
    404 ``order_not_found`` for an order that is not the caller's."""
    assert session.user_id is not None
    report = await buy_again(
        rt, order_id=order_id, user_id=session.user_id, cart_id=session.cart_id
    )
    return _buy_again_out(session.cart_id, report)
