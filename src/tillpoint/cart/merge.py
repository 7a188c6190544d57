"""Merging a guest's cart into a user's cart when the guest logs in or registers.

Lines of the same product + variant + metadata add up, capped at the line limit;
other lines are appended while the cart has room. Each merged line takes today's
catalog price; lines no longer sellable are left behind. Coupons move over and are
re-validated against the merged cart by the promotions rules (the dropped ones are
reported, and audited with the merge). The guest cart is marked abandoned.
Both carts are locked in id order, so two merges touching the same carts cannot deadlock.
Nothing moves while a checkout is paying for either cart: its order gets the lines
that were paid for (``held_cart`` says which cart is held).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.applied_coupons import stale_coupons
from tillpoint.cart.models import AppliedCoupon, Cart, CartItem
from tillpoint.cart.service import ABANDONED, ACTIVE, lock_cart
from tillpoint.catalog.public import resolve_sellable
from tillpoint.errors import InvalidInput, NotFound
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime

# Given the merged cart (locked), return the applied coupons that no longer hold.
CouponRevalidator = Callable[[Runtime, AsyncSession, Cart], Awaitable[list[AppliedCoupon]]]


async def revalidate_applied_coupons(
    rt: Runtime, s: AsyncSession, cart: Cart
) -> list[AppliedCoupon]:
    """The promotions rules on the merged cart: validity, combinability, per-customer
    limits (now counted for the user); kept coupons get their new ``discount_amount``."""
    return await stale_coupons(rt, s, cart)


@dataclass(slots=True)
class MergeReport:
    """What the merge did, line by line, for the audit trail and the response."""

    source_cart_id: str
    target_cart_id: str
    added: list[str] = field(default_factory=list)  # product ids appended as new lines
    combined: list[str] = field(default_factory=list)  # product ids added to an existing line
    capped: list[str] = field(default_factory=list)  # product ids whose quantity hit the cap
    left_behind: list[dict[str, str]] = field(default_factory=list)  # {product_id, reason}
    coupons_dropped: list[str] = field(default_factory=list)  # coupon ids
    held_cart: str | None = None  # a cart a payment in flight holds: nothing was merged

    def as_dict(self) -> dict[str, object]:
        return {
            "source_cart_id": self.source_cart_id,
            "target_cart_id": self.target_cart_id,
            "added": self.added,
            "combined": self.combined,
            "capped": self.capped,
            "left_behind": self.left_behind,
            "coupons_dropped": self.coupons_dropped,
        }


async def merge_carts(
    rt: Runtime,
    s: AsyncSession,
    *,
    source_id: str,
    target_id: str,
    revalidate: CouponRevalidator = revalidate_applied_coupons,
) -> MergeReport:
    """Inside ``s``: move the lines and coupons of cart ``source_id`` into ``target_id``.

    Both must be active. Invalidate both carts' cache entries after ``s`` commits.
    """
    report = MergeReport(source_cart_id=source_id, target_cart_id=target_id)
    locked = {cid: await lock_cart(s, cid) for cid in sorted({source_id, target_id})}
    source, target = locked[source_id], locked[target_id]
    if source.status != ACTIVE or target.status != ACTIVE or source is target:
        return report
    for cart_id in (source_id, target_id):
        if await rt.paying(s, cart_id) is not None:
            report.held_cart = cart_id
            return report
    for line in source.items:
        await _merge_line(rt, s, line, target, report)
    held = {c.coupon_id for c in target.coupons}
    for coupon in source.coupons:
        if coupon.coupon_id not in held:
            target.coupons.append(
                AppliedCoupon(
                    id=new_id("acp"),
                    coupon_id=coupon.coupon_id,
                    code=coupon.code,
                    discount_amount=coupon.discount_amount,
                    applied_at=rt.clock.now(),
                )
            )
            held.add(coupon.coupon_id)
    await s.flush()
    for stale in await revalidate(rt, s, target):
        target.coupons.remove(stale)
        report.coupons_dropped.append(stale.coupon_id)
    now = rt.clock.now()
    source.status = ABANDONED
    source.version += 1
    source.updated_at = now
    target.version += 1
    target.updated_at = now
    target.expires_at = now + timedelta(seconds=rt.settings.cart_ttl_seconds)
    await s.flush()
    return report


async def _merge_line(
    rt: Runtime, s: AsyncSession, line: CartItem, target: Cart, report: MergeReport
) -> None:
    try:
        sellable = await resolve_sellable(s, line.product_id, line.variant_id)
    except (NotFound, InvalidInput) as exc:
        report.left_behind.append({"product_id": line.product_id, "reason": exc.code})
        return
    if sellable.product.currency != target.currency:
        report.left_behind.append({"product_id": line.product_id, "reason": "currency_mismatch"})
        return
    cap = rt.settings.cart_max_line_quantity
    same = next(
        (
            i
            for i in target.items
            if i.product_id == line.product_id
            and i.variant_id == line.variant_id
            and i.meta == line.meta
        ),
        None,
    )
    if same is not None:
        total = same.quantity + line.quantity
        if total > cap:
            report.capped.append(line.product_id)
        same.quantity = min(total, cap)
        same.price = sellable.unit_price
        report.combined.append(line.product_id)
        return
    if len(target.items) >= rt.settings.cart_max_lines:
        report.left_behind.append({"product_id": line.product_id, "reason": "too_many_lines"})
        return
    target.items.append(
        CartItem(
            id=new_id("item"),
            product_id=line.product_id,
            variant_id=line.variant_id,
            quantity=min(line.quantity, cap),
            price=sellable.unit_price,
            currency=target.currency,
            meta=dict(line.meta or {}),
            position=max((i.position for i in target.items), default=-1) + 1,
        )
    )
    report.added.append(line.product_id)
