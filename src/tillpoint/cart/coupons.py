"""The seed's CouponService: validate, apply and remove a cart's coupons, calculate discounts.

Applying and removing go through the cart's one write path (row lock, ``version``,
``If-Match``), which re-checks and re-prices every applied coupon, so the cart's
``discount`` and each applied coupon's ``discount_amount`` always come from
:func:`tillpoint.promotions.calculation.calculate_discount` over the cart as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.cart import service as carts
from tillpoint.cart.applied_coupons import (
    actor_of,
    cart_lines,
    price_applied_coupons,
    price_in_place,
    refresh_cart_coupons,
    revalidate_applied,
)
from tillpoint.cart.locks import refuse_coupons_if_locked
from tillpoint.cart.models import AppliedCoupon, Cart
from tillpoint.cart.view import CartView
from tillpoint.errors import NotFound
from tillpoint.ids import new_id
from tillpoint.promotions.public import (
    CONFLICT_REASONS,
    CartFacts,
    CouponRule,
    DiscountResult,
    PricingLine,
    Problem,
    Reason,
    check_combination,
    check_coupon,
    combinability_rules,
    coupon_by_code,
    coupon_rejected,
    coupons_by_id,
    customer_keys,
    customer_uses,
    rule_of,
)
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class CouponValidation:
    """The seed's CouponValidation: ``errors`` about the coupon itself, ``conflicts``
    with the coupons already applied; ``is_valid`` when both are empty."""

    coupon: CouponRule | None
    errors: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return self.coupon is not None and not self.errors and not self.conflicts

    @property
    def problems(self) -> list[Problem]:
        return [*self.errors, *self.conflicts]


async def _check(
    rt: Runtime, s: AsyncSession, cart: Cart, code: str, *, email: str | None = None
) -> CouponValidation:
    coupon = await coupon_by_code(s, code)
    if coupon is None:
        return CouponValidation(None, [Problem(Reason.not_found)])
    rule = rule_of(coupon)
    keys = customer_keys(cart.user_id, email)
    uses = (await customer_uses(s, [coupon.id], keys)).get(coupon.id, 0)
    facts = CartFacts(cart_lines(cart), cart.currency, rt.clock.now(), uses)
    applied = await coupons_by_id(s, [a.coupon_id for a in cart.coupons])
    others = [rule_of(c) for c in applied.values()]
    problems = check_coupon(rule, facts) + check_combination(
        rule, others, combinability_rules(rt.settings)
    )
    return CouponValidation(
        rule,
        [p for p in problems if p.reason not in CONFLICT_REASONS],
        [p for p in problems if p.reason in CONFLICT_REASONS],
    )


async def validate_coupon(
    rt: Runtime, code: str, cart_id: str, *, email: str | None = None
) -> CouponValidation:
    """Whether ``code`` could be applied to the cart now, and every reason it could not."""
    async with rt.db.transaction() as s:
        cart = await s.get(Cart, cart_id) if cart_id else None
        if cart is None:
            raise NotFound("No such cart.", code="cart_not_found")
        return await _check(rt, s, cart, code, email=email)


async def apply_coupon(
    rt: Runtime,
    cart_id: str,
    code: str,
    *,
    actor: Actor | None = None,
    if_match: int | None = None,
) -> CartView:
    """Apply the coupon ``code`` to the cart; the cart comes back re-priced.

    Refuses with ``coupon_<reason>`` (422 for the coupon itself, 409 for a clash with
    the applied coupons; every reason in ``details``). Records ``coupon_applied``.
    """

    async def change(s: AsyncSession, cart: Cart) -> None:
        refuse_coupons_if_locked(cart.items)
        # Drop what no longer holds first, so a stale coupon does not block a good one.
        await refresh_cart_coupons(rt, s, cart, actor=actor)
        verdict = await _check(rt, s, cart, code)
        if not verdict.is_valid or verdict.coupon is None:
            raise coupon_rejected(verdict.problems)
        coupon = verdict.coupon
        cart.coupons.append(
            AppliedCoupon(
                id=new_id("acpn"),
                coupon_id=coupon.id,
                code=coupon.code,
                discount_amount=0,
                applied_at=rt.clock.now(),
            )
        )
        await price_in_place(rt, s, cart)  # before the audit's read flushes the new row
        await record(
            s,
            AuditEvent(
                "coupon_applied",
                "cart",
                cart.id,
                "apply",
                {"coupon_id": coupon.id, "code": coupon.code, "type": coupon.type.value},
            ),
            actor or actor_of(cart),
            rt.clock.now(),
        )

    return await carts.change_cart(rt, cart_id, change, if_match=if_match)


async def remove_coupon(
    rt: Runtime,
    cart_id: str,
    coupon_id: str,
    *,
    actor: Actor | None = None,
    if_match: int | None = None,
) -> CartView:
    """Take the coupon ``coupon_id`` off the cart (404 ``coupon_not_applied`` if it is not on).

    Records ``coupon_removed`` with reason ``customer``.
    """

    async def change(s: AsyncSession, cart: Cart) -> None:
        applied = next((a for a in cart.coupons if a.coupon_id == coupon_id), None)
        if applied is None:
            raise NotFound("This coupon is not applied to the cart.", code="coupon_not_applied")
        cart.coupons.remove(applied)
        await record(
            s,
            AuditEvent(
                "coupon_removed",
                "cart",
                cart.id,
                "remove",
                {"coupon_id": coupon_id, "code": applied.code, "reason": "customer"},
            ),
            actor or actor_of(cart),
            rt.clock.now(),
        )

    return await carts.change_cart(rt, cart_id, change, if_match=if_match)


async def calculate_discount(rt: Runtime, cart_id: str) -> DiscountResult:
    """The discounts the cart's applied coupons give now (read only; nothing is removed)."""
    async with rt.db.transaction() as s:
        cart = await s.get(Cart, cart_id) if cart_id else None
        if cart is None:
            raise NotFound("No such cart.", code="cart_not_found")
        # A read never changes the cart: removals are made by the next write.
        pricing = await price_applied_coupons(
            rt,
            s,
            cart_id=cart.id,
            lines=cart_lines(cart),
            currency=cart.currency,
            shipping_amount=0,
            user_id=cart.user_id,
            now=rt.clock.now(),
        )
        return pricing.result


async def revalidate_cart(
    rt: Runtime, cart_id: str, *, email: str | None = None, actor: Actor | None = None
) -> list[dict[str, Any]]:
    """Re-check the cart's coupons now (checkout pricing, order creation) and remove those
    that no longer hold, as a cart write; returns their ``coupon_removed`` notices.

    Writes only when something is removed, so an unchanged cart keeps its ``version``.
    ``email`` makes the per-customer limit count a guest's earlier uses.
    """
    async with rt.db.transaction() as s:
        cart = await s.get(Cart, cart_id) if cart_id else None
        if cart is None:
            raise NotFound("No such cart.", code="cart_not_found")
        probe = await price_applied_coupons(
            rt,
            s,
            cart_id=cart.id,
            lines=cart_lines(cart),
            currency=cart.currency,
            shipping_amount=0,
            user_id=cart.user_id,
            now=rt.clock.now(),
            email=email,
        )
    if not probe.notices:
        return []
    notices: list[dict[str, Any]] = []

    async def change(s: AsyncSession, cart: Cart) -> None:
        notices.extend((await refresh_cart_coupons(rt, s, cart, email=email, actor=actor)).notices)

    await carts.change_cart(rt, cart_id, change)
    return notices


async def revalidate_locked_cart(
    rt: Runtime,
    s: AsyncSession,
    cart_id: str,
    *,
    lines: Sequence[PricingLine],
    currency: str,
    user_id: str | None,
    email: str | None = None,
) -> list[dict[str, Any]]:
    """Inside CONFIRM_ORDER's unit of work, the cart's row locked by the caller's read of
    its ``lines`` (passed in, not read again): remove the applied coupons that no longer
    hold, bump the cart's version if any went, and return their ``coupon_removed``
    notices for the caller to record (``applied.audit_removals``). One SELECT when the
    cart has no coupon. Invalidate the cart cache after commit."""
    applied = (
        await s.scalars(
            select(AppliedCoupon)
            .where(AppliedCoupon.cart_id == cart_id)
            .order_by(AppliedCoupon.applied_at, AppliedCoupon.id)
        )
    ).all()
    if not applied:
        return []
    pricing = await revalidate_applied(
        rt, s, applied, lines=lines, currency=currency, user_id=user_id, email=email
    )
    if pricing.notices:
        await s.execute(
            update(Cart)
            .where(Cart.id == cart_id)
            .values(version=Cart.version + 1, updated_at=rt.clock.now())
            .execution_options(synchronize_session=False)
        )
    return pricing.notices
