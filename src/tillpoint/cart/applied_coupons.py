"""Coupons applied to a cart: re-validated and priced inside the caller's unit of work.

Called by every cart write (so the cart's discount always reflects its lines) and by
checkout pricing. A coupon that no longer holds is removed, audited, and reported as
a ``coupon_removed`` notice: never silently kept, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.cart.models import AppliedCoupon, Cart
from tillpoint.promotions.public import (
    NO_DISCOUNTS,
    CartFacts,
    CouponRule,
    DiscountResult,
    PricingLine,
    Problem,
    Reason,
    calculate_discount,
    combinability_rules,
    coupons_by_id,
    customer_keys,
    customer_uses,
    held_by_cart,
    rule_of,
    select_applicable,
)
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class CouponPricing:
    """The discounts of the coupons that still hold, and notices for those removed."""

    result: DiscountResult = NO_DISCOUNTS
    notices: list[dict[str, Any]] = field(default_factory=list)


# Built once: checkout pricing reads it at every step.
_APPLIED_TO_CART = (
    select(AppliedCoupon)
    .where(AppliedCoupon.cart_id == bindparam("cart_id"))
    .order_by(AppliedCoupon.applied_at, AppliedCoupon.id)
)


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


def _notice(applied: AppliedCoupon, problem: Problem) -> dict[str, Any]:
    return {
        "code": "coupon_removed",
        "coupon_id": applied.coupon_id,
        "coupon_code": applied.code,
        "reason": problem.reason.value,
        "message": problem.message,
    }


def _at_limit(rule: CouponRule, uses: dict[str, int]) -> bool:
    return (rule.usage_limit is not None and rule.usage_count >= rule.usage_limit) or (
        rule.per_customer_limit is not None and uses.get(rule.id, 0) >= rule.per_customer_limit
    )


async def _own_holds_excluded(
    s: AsyncSession, cart_id: str, coupon_rules: list[CouponRule], uses: dict[str, int]
) -> list[CouponRule]:
    """A use this cart's checkout holds (CONFIRM_ORDER, then a declined card) is its own:
    it must not count against the cart itself. Queried only for coupons at a limit."""
    full = [r.id for r in coupon_rules if _at_limit(r, uses)]
    held = await held_by_cart(s, cart_id, full) if full else set()
    if not held:
        return coupon_rules
    for coupon_id in held:
        if coupon_id in uses:
            uses[coupon_id] = max(uses[coupon_id] - 1, 0)
    return [
        replace(r, usage_count=max(r.usage_count - 1, 0)) if r.id in held else r
        for r in coupon_rules
    ]


async def _evaluate(
    rt: Runtime,
    s: AsyncSession,
    applied: Sequence[AppliedCoupon],
    *,
    lines: Sequence[PricingLine],
    currency: str,
    now: datetime,
    user_id: str | None,
    email: str | None,
    shipping_amount: int,
) -> tuple[DiscountResult, list[tuple[AppliedCoupon, Problem]]]:
    """Price the applied coupons that still hold; list the others with their first reason."""
    rows = await coupons_by_id(s, [a.coupon_id for a in applied])
    rules = combinability_rules(rt.settings)
    uses = await customer_uses(s, list(rows), customer_keys(user_id, email))
    coupon_rules = [rule_of(c) for c in rows.values()]
    if applied:
        coupon_rules = await _own_holds_excluded(s, applied[0].cart_id, coupon_rules, uses)
    facts = CartFacts(lines, currency, now)
    kept, dropped = select_applicable(coupon_rules, facts, rules, uses)
    drops = []
    for a in applied:
        problems = dropped.get(a.coupon_id) or (
            [] if a.coupon_id in rows else [Problem(Reason.not_found, a.coupon_id)]
        )
        if problems:
            drops.append((a, problems[0]))
    return calculate_discount(lines, kept, rules, shipping_amount), drops


async def refresh_cart_coupons(
    rt: Runtime,
    s: AsyncSession,
    cart: Cart,
    *,
    email: str | None = None,
    actor: Actor | None = None,
    audit: bool = True,
) -> CouponPricing:
    """Re-check the coupons applied to ``cart`` (locked by the caller) and price them.

    Removes each coupon that is no longer valid or no longer combines (in priority
    order), records ``coupon_removed`` for it and returns a notice for it; stores
    every kept coupon's ``discount_amount``. Runs in the caller's unit of work.
    """
    if not cart.coupons:
        return CouponPricing()
    now = rt.clock.now()
    result, drops = await _evaluate(
        rt,
        s,
        list(cart.coupons),
        lines=cart_lines(cart),
        currency=cart.currency,
        now=now,
        user_id=cart.user_id,
        email=email,
        shipping_amount=0,
    )
    notices = []
    for applied, problem in drops:
        cart.coupons.remove(applied)
        notices.append(_notice(applied, problem))
    if audit:
        await audit_removals(s, cart.id, notices, actor or actor_of(cart), now)
    amounts = {d.coupon_id: d.amount for d in result.applied}
    for applied in cart.coupons:
        applied.discount_amount = amounts.get(applied.coupon_id, 0)
    return CouponPricing(result, notices)


async def price_in_place(rt: Runtime, s: AsyncSession, cart: Cart) -> None:
    """Set each applied coupon's ``discount_amount`` as :func:`refresh_cart_coupons` would,
    removing nothing and flushing nothing: a coupon just added is then inserted with its
    amount, not inserted at 0 and updated by the write's re-pricing (which still runs,
    and removes what no longer holds)."""
    with s.no_autoflush:
        await stale_coupons(rt, s, cart)


async def revalidate_applied(
    rt: Runtime,
    s: AsyncSession,
    applied: Sequence[AppliedCoupon],
    *,
    lines: Sequence[PricingLine],
    currency: str,
    user_id: str | None,
    email: str | None,
) -> CouponPricing:
    """:func:`refresh_cart_coupons` for coupons read by the caller (no ORM cart): delete
    those that no longer hold, store the kept ones' ``discount_amount``, and return the
    discounts and the removal notices (not audited: the caller records them)."""
    result, drops = await _evaluate(
        rt,
        s,
        list(applied),
        lines=lines,
        currency=currency,
        now=rt.clock.now(),
        user_id=user_id,
        email=email,
        shipping_amount=0,
    )
    notices = []
    for gone, problem in drops:
        await s.delete(gone)
        notices.append(_notice(gone, problem))
    amounts = {d.coupon_id: d.amount for d in result.applied}
    dropped = {id(gone) for gone, _ in drops}
    for kept in applied:
        if id(kept) not in dropped:
            kept.discount_amount = amounts.get(kept.coupon_id, 0)
    return CouponPricing(result, notices)


async def audit_removals(
    s: AsyncSession, cart_id: str, notices: Sequence[dict[str, Any]], actor: Actor, at: datetime
) -> None:
    """Record ``coupon_removed`` for each removal notice. CONFIRM_ORDER records them last in
    its unit of work: the audit chain's head row is then always the last lock it takes,
    as in every other write, so two checkouts never wait on each other in a cycle."""
    for notice in notices:
        await record(
            s,
            AuditEvent(
                "coupon_removed",
                "cart",
                cart_id,
                "remove",
                {
                    "coupon_id": notice["coupon_id"],
                    "code": notice["coupon_code"],
                    "reason": notice["reason"],
                },
            ),
            actor,
            at,
        )


async def stale_coupons(rt: Runtime, s: AsyncSession, cart: Cart) -> list[AppliedCoupon]:
    """The applied coupons of ``cart`` that no longer hold (for the caller to remove and
    report, as the cart merge at login does); the others get their ``discount_amount``."""
    if not cart.coupons:
        return []
    result, drops = await _evaluate(
        rt,
        s,
        list(cart.coupons),
        lines=cart_lines(cart),
        currency=cart.currency,
        now=rt.clock.now(),
        user_id=cart.user_id,
        email=None,
        shipping_amount=0,
    )
    amounts = {d.coupon_id: d.amount for d in result.applied}
    for applied in cart.coupons:
        applied.discount_amount = amounts.get(applied.coupon_id, 0)
    return [applied for applied, _ in drops]


async def price_applied_coupons(
    rt: Runtime,
    s: AsyncSession,
    *,
    cart_id: str,
    lines: Sequence[PricingLine],
    currency: str,
    shipping_amount: int,
    user_id: str | None,
    now: datetime,
    email: str | None = None,
) -> CouponPricing:
    """Read only (checkout pricing): the discounts of the coupons applied to ``cart_id``
    that still hold for these ``lines`` and this shipping, re-checked now.

    A coupon that no longer holds is left out of the result and named in ``notices``;
    nothing is written (the next cart write, or :func:`revalidate_cart` at order
    creation, removes it from the cart).
    """
    applied = (await s.scalars(_APPLIED_TO_CART, {"cart_id": cart_id})).all()
    if not applied:
        return CouponPricing()
    result, drops = await _evaluate(
        rt,
        s,
        applied,
        lines=lines,
        currency=currency,
        now=now,
        user_id=user_id,
        email=email,
        shipping_amount=shipping_amount,
    )
    return CouponPricing(result, [_notice(a, p) for a, p in drops])
