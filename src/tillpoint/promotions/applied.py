"""Coupons applied to a cart: re-validated and priced inside the caller's unit of work.

Called by every cart write (so the cart's discount always reflects its lines) and by
checkout pricing. A coupon that no longer holds is removed, audited, and reported as
a ``coupon_removed`` notice: never silently kept, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.cart.models import Cart
from tillpoint.pricing.types import NO_DISCOUNTS, DiscountResult, PricingLine
from tillpoint.promotions.calculation import calculate_discount
from tillpoint.promotions.fetch import (
    combinability_rules,
    coupons_by_id,
    customer_keys,
    customer_uses,
    rule_of,
)
from tillpoint.promotions.rules import CartFacts, Problem, Reason, select_applicable
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class CouponPricing:
    """The discounts of the coupons that still hold, and notices for those removed."""

    result: DiscountResult = NO_DISCOUNTS
    notices: list[dict[str, Any]] = field(default_factory=list)


def cart_lines(cart: Cart) -> list[PricingLine]:
    """The cart's lines as the discount calculation sees them."""
    return [
        PricingLine(
            line_id=item.id,
            product_id=item.product_id,
            variant_id=item.variant_id,
            quantity=item.quantity,
            unit_price=item.price,
        )
        for item in cart.items
    ]


def actor_of(cart: Cart) -> Actor:
    """Who a change made on behalf of the cart's owner is attributed to."""
    return Actor(session_id=cart.session_id, user_id=cart.user_id)


async def refresh_cart_coupons(
    rt: Runtime,
    s: AsyncSession,
    cart: Cart,
    *,
    lines: Sequence[PricingLine] | None = None,
    shipping_amount: int = 0,
    email: str | None = None,
    actor: Actor | None = None,
    write: bool = True,
) -> CouponPricing:
    """Re-check the coupons applied to ``cart`` (locked by the caller) and price them.

    Drops each coupon that is no longer valid or no longer combines (in priority
    order), records ``coupon_removed`` for it, stores every kept coupon's
    ``discount_amount`` and returns the full :class:`DiscountResult`. ``lines``
    default to the cart's own; checkout passes its priced lines and shipping. With
    ``write=False`` nothing is changed or recorded (the notices still say what would go).
    """
    if not cart.coupons:
        return CouponPricing()
    priced = list(lines) if lines is not None else cart_lines(cart)
    rows = await coupons_by_id(s, [a.coupon_id for a in cart.coupons])
    rules = combinability_rules(rt.settings)
    uses = await customer_uses(s, list(rows), customer_keys(cart.user_id, email))
    now = rt.clock.now()
    facts = CartFacts(priced, cart.currency, now)
    kept, dropped = select_applicable([rule_of(c) for c in rows.values()], facts, rules, uses)
    notices: list[dict[str, Any]] = []
    for applied in list(cart.coupons):
        problems = dropped.get(applied.coupon_id)
        if applied.coupon_id not in rows:
            problems = [Problem(Reason.not_found, applied.coupon_id)]
        if not problems:
            continue
        first = problems[0]
        notice = {
            "code": "coupon_removed",
            "coupon_id": applied.coupon_id,
            "coupon_code": applied.code,
            "reason": first.reason.value,
            "message": first.message,
        }
        notices.append(notice)
        if not write:
            continue
        cart.coupons.remove(applied)
        await record(
            s,
            AuditEvent(
                "coupon_removed",
                "cart",
                cart.id,
                "remove",
                {"coupon_id": applied.coupon_id, "code": applied.code, "reason": notice["reason"]},
            ),
            actor or actor_of(cart),
            now,
        )
    result = calculate_discount(priced, kept, rules, shipping_amount)
    amounts = {d.coupon_id: d.amount for d in result.applied}
    for applied in cart.coupons if write else ():
        applied.discount_amount = amounts.get(applied.coupon_id, 0)
    return CouponPricing(result, notices)
