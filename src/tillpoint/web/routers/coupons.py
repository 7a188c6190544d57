"""Coupons on the caller's own cart: ``POST /api/cart/coupons``, ``DELETE /api/cart/coupons/{id}``.

Both answer the whole cart, re-priced: ``coupons`` lists each applied coupon with its
``discount_amount`` (minor units) and ``totals.discount`` is their sum.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field

from tillpoint.cart import public as cart_public
from tillpoint.cart.public import apply_coupon_limited
from tillpoint.web.deps import (
    CouponAttemptsDep,
    IfMatchDep,
    RuntimeDep,
    SessionDep,
    request_actor,
)
from tillpoint.web.openapi import link
from tillpoint.web.routers.cart import CartOut, cart_answer
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import StrictModel, error_responses

router = APIRouter(prefix="/api/cart/coupons", tags=["cart"], route_class=TypedPathRoute)

CouponId = Annotated[str, Path(max_length=40, pattern=r"^cpn_[0-9A-Za-z]{22}$")]
COUPON_ERRORS = error_responses(400, 401, 403, 404, 409, 412, 422, 429)


class ApplyCouponIn(StrictModel):
    code: str = Field(
        min_length=1,
        max_length=80,
        description="The coupon code as the customer typed it (case and surrounding spaces "
        "do not matter).",
    )


_APPLIED: dict[int | str, dict[str, Any]] = {
    200: {
        "links": {
            "RemoveCoupon": link(
                "delete",
                "/api/cart/coupons/{coupon_id}",
                coupon_id="$response.body#/coupons/0/coupon_id",
            )
        }
    }
}


@router.post("", response_model=CartOut, responses={**_APPLIED, **COUPON_ERRORS})
async def apply_coupon(
    body: ApplyCouponIn,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    session: SessionDep,
    if_match: IfMatchDep,
    attempts: CouponAttemptsDep,
) -> dict[str, Any]:
    """Apply a coupon code. Refusals answer 422 ``coupon_<reason>`` (not_found, not_started,
    expired, inactive, usage_limit_reached, customer_limit_reached, currency_mismatch,
    minimum_not_met, no_applicable_items) or 409 ``coupon_<reason>`` for a clash with the
    coupons already applied (already_applied, max_coupons_reached, not_combinable,
    percentage_with_fixed, multiple_percentage, free_shipping_combination); ``details``
    lists every error and conflict. After too many codes that name no usable coupon
    (per session and per address), every code answers 429 ``coupon_attempts_exceeded``
    with ``Retry-After`` until the block ends."""
    view = await apply_coupon_limited(
        rt,
        attempts,
        session.cart_id,
        body.code,
        actor=request_actor(request, session),
        if_match=if_match,
    )
    return cart_answer(response, view)


@router.delete("/{coupon_id}", response_model=CartOut, responses=COUPON_ERRORS)
async def remove_coupon(
    coupon_id: CouponId,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    session: SessionDep,
    if_match: IfMatchDep,
) -> dict[str, Any]:
    """Take a coupon (by its ``coupon_id``) off the cart."""
    view = await cart_public.remove_coupon(
        rt,
        session.cart_id,
        coupon_id,
        actor=request_actor(request, session),
        if_match=if_match,
    )
    return cart_answer(response, view)
