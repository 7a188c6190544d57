"""Coupons in the checkout: the checkout's effects that hold its coupons' uses at
CONFIRM_ORDER (before any payment) and give them back when it expires, through
promotions' holds.

``holdCoupons`` refuses with :class:`RefuseKeeping` when a coupon cannot be held: the
coupon leaves the cart (audited) and the checkout stays in review with the new total.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists

from tillpoint.audit.service import AuditEvent, record
from tillpoint.auth.public import User
from tillpoint.cart.public import Cart
from tillpoint.checkout.effects import EffectCall, RefuseKeeping
from tillpoint.errors import Conflict
from tillpoint.inventory.public import ACTIVE, InventoryReservation
from tillpoint.promotions.public import (
    EXHAUSTED,
    CouponHold,
    CouponUnavailable,
    coupon_message,
    hold_coupons,
    release_checkout_holds,
    release_holds_without,
)
from tillpoint.runtime import Runtime


def _coupon_error(refused: dict[str, str], codes: dict[str, str]) -> Conflict:
    names = ", ".join(codes.get(c, c) for c in sorted(refused))
    return Conflict(
        f"The coupon {names} has just been used up; it was removed. "
        "Review the new total and place the order again.",
        code=EXHAUSTED,
        details={
            "coupons": [
                {"coupon_id": c, "code": codes.get(c, c), "reason": r}
                for c, r in sorted(refused.items())
            ]
        },
    )


async def _remove_from_cart(
    call: EffectCall, cart: Cart, refused: dict[str, str]
) -> list[dict[str, Any]]:
    """Take the refused coupons off the (locked) cart, audited; their ``coupon_removed``
    notices."""
    now = call.rt.clock.now()
    notices = []
    for applied in [a for a in cart.coupons if a.coupon_id in refused]:
        reason = refused[applied.coupon_id]
        cart.coupons.remove(applied)
        notices.append(
            {
                "code": "coupon_removed",
                "coupon_id": applied.coupon_id,
                "coupon_code": applied.code,
                "reason": reason,
                "message": coupon_message(reason),
            }
        )
        await record(
            call.s,
            AuditEvent(
                "coupon_removed",
                "cart",
                cart.id,
                "remove",
                {"coupon_id": applied.coupon_id, "code": applied.code, "reason": reason},
            ),
            call.actor,
            now,
        )
    cart.version += 1
    cart.updated_at = now
    await call.s.flush()
    return notices


async def hold_checkout_coupons(call: EffectCall) -> None:
    """CONFIRM_ORDER: hold the coupons the re-priced total counts on, before any payment.

    Refused (409 ``coupon_exhausted``) when one cannot be held: the coupon leaves the
    cart and the checkout stays in review with the new total, so the customer can place
    the order at full price.
    """
    promotions = call.totals.promotions if call.totals is not None else ()
    codes = {
        str(p["coupon_id"]): str(p.get("code") or "") for p in promotions if p.get("coupon_id")
    }
    ctx = call.context
    if not codes and not (ctx.payment is not None and ctx.payment.attempt):
        return  # no coupon, and no earlier attempt that could hold one: nothing to do
    email = ctx.guest_info.email if ctx.guest_info is not None else None
    if email is None and call.checkout.user_id is not None:
        user = await call.s.get(User, call.checkout.user_id)
        email = user.email if user else None
    try:
        await hold_coupons(
            call.s,
            list(codes),
            checkout_id=call.checkout.id,
            cart_id=call.checkout.cart_id,
            user_id=call.checkout.user_id,
            email=email,
            at=call.rt.clock.now(),
        )
    except CouponUnavailable as exc:
        # Only a refusal needs the cart as objects (its row is locked by the step's read).
        cart = await call.s.get(Cart, call.checkout.cart_id)
        notices = await _remove_from_cart(call, cart, exc.refused) if cart is not None else []
        raise RefuseKeeping(_coupon_error(exc.refused, codes), notices) from exc


async def release_checkout_coupons(call: EffectCall) -> None:
    """EXPIRE: the checkout's coupon uses go back at once."""
    await release_checkout_holds(call.s, call.checkout.id, at=call.rt.clock.now())


async def release_lapsed_holds(rt: Runtime, *, batch: int = 200) -> int:
    """Sweep job: release coupon holds whose stock reservation is gone (expired or
    cancelled) — a hold lives exactly as long as the checkout's stock. Returns how many."""
    live_stock = exists().where(
        and_(
            InventoryReservation.reference == CouponHold.cart_id,
            InventoryReservation.status == ACTIVE,
        )
    )
    return await release_holds_without(rt, live_stock, batch=batch)
