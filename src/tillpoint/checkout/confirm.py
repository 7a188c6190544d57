"""CONFIRM_ORDER's re-pricing and the refusals that keep what they changed.

Under the cart's row lock (the step read the cart with it), CONFIRM_ORDER refuses while
another checkout pays for the cart, takes off the cart the coupons that no longer hold
(with a notice), and re-prices: when the total differs from the one the customer was
last shown, the step is refused with 409 ``totals_changed`` — the new totals are then
quoted and saved, so confirming again pays them. A handler that refuses with
:class:`RefuseKeeping` (a coupon that ran out while being held) ends the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor
from tillpoint.cart.public import (
    CartOwner,
    audit_removals,
    refuse_while_paying,
    revalidate_locked_cart,
)
from tillpoint.checkout.cart_facts import CartFacts
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.effects import EffectCall, RefuseKeeping
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.store import save
from tillpoint.checkout.views import CheckoutView, price, view_of
from tillpoint.errors import Conflict, TillpointError
from tillpoint.pricing.public import OrderTotal
from tillpoint.runtime import Runtime


class TotalsChanged(Exception):
    """The step is refused, but what it changed (the new quote, coupons taken off) is kept."""

    def __init__(self, view: CheckoutView, error: TillpointError | None = None) -> None:
        self.view = view
        self.error = error


@dataclass(frozen=True, slots=True)
class Repriced:
    """CONFIRM_ORDER's totals (what will be charged) and its coupon notices."""

    totals: OrderTotal
    notices: tuple[dict[str, Any], ...]


async def reprice(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    context: CheckoutContext,
    cart: CartFacts,
    actor: Actor,
    now: datetime,
) -> Repriced:
    """The totals CONFIRM_ORDER charges; raises :class:`TotalsChanged` if they moved."""
    # Under the cart's lock: another checkout (another device) paying for this cart
    # holds it; a second payment would re-price it and charge it again.
    await refuse_while_paying(rt, s, row.cart_id)
    # Coupons that no longer hold leave the cart now, with a notice (promotions),
    # checked against the lines just read under the cart's lock (not read again).
    # Their audit rows are recorded at the end: the audit head is the last lock taken.
    # No coupon in the locked read: none can be applied meanwhile (that takes the lock).
    notices = tuple(
        await revalidate_locked_cart(
            rt,
            s,
            row.cart_id,
            lines=cart.lines,
            currency=cart.currency,
            user_id=cart.user_id,
            email=context.guest_info.email if context.guest_info is not None else None,
        )
        if cart.has_coupons
        else ()
    )
    totals = await price(rt, s, row, context, cart)  # tax down: 503, never a guess
    fingerprint = list(totals.money_fingerprint())
    if fingerprint != context.quoted_totals:
        kept = context.model_copy()
        kept.quoted_totals = fingerprint
        row.context = kept.dump()
        await _keep(s, row, notices, actor, now)
        raise TotalsChanged(view_of(row, kept, totals, notices))
    return Repriced(totals, notices)


def hand_over(call: EffectCall, cart: CartFacts, repriced: Repriced) -> None:
    """The stock handler reserves the lines read under the cart's lock (a coupon removal
    above bumped the cart's version)."""
    call.totals = repriced.totals
    call.cart_lines = cart.lines
    call.cart_owner = CartOwner(cart.cart_id, cart.user_id, cart.session_id)
    call.cart_version = cart.version + (1 if repriced.notices else 0)


async def refused_keeping(
    rt: Runtime,
    s: AsyncSession,
    row: Checkout,
    before: CheckoutContext,
    cart: CartFacts,
    repriced: Repriced | None,
    refused: RefuseKeeping,
    actor: Actor,
    now: datetime,
) -> TotalsChanged:
    """A handler refused but keeps what it changed (e.g. a coupon that ran out at
    CONFIRM_ORDER left the cart): the checkout stays (``before``: its context before the
    step), quoting the new total."""
    totals = await price(rt, s, row, before, cart)
    kept = before.model_copy()
    kept.quoted_totals = list(totals.money_fingerprint())
    row.context = kept.dump()
    earlier = repriced.notices if repriced is not None else ()
    await _keep(s, row, earlier, actor, now)
    notices = earlier + tuple(refused.notices)
    return TotalsChanged(view_of(row, kept, totals, notices), refused.error)


async def _keep(
    s: AsyncSession,
    row: Checkout,
    notices: tuple[dict[str, Any], ...],
    actor: Actor,
    now: datetime,
) -> None:
    """Save the refused step's new quote (state unchanged), then audit the coupons it took
    off the cart (the audit head is the last lock taken)."""
    row.version += 1
    row.updated_at = now
    await save(s, row)
    await audit_removals(s, row.cart_id, notices, actor, now)


# A coupon removed at CONFIRM_ORDER for one of these reasons was used up meanwhile.
_EXHAUSTED_REASONS = frozenset({"usage_limit_reached", "customer_limit_reached"})


def refusal_of(refusal: TotalsChanged) -> TillpointError:
    """409 ``totals_changed``, or ``coupon_exhausted`` when a coupon ran out (the coupon
    is off the cart and the new totals are shown: confirming again pays full price)."""
    view = refusal.view
    gone = [
        e
        for e in view.errors
        if e.get("code") == "coupon_removed" and e.get("reason") in _EXHAUSTED_REASONS
    ]
    details = {
        "totals": view.totals.to_json() if view.totals else None,
        "version": view.version,
        "notices": list(view.errors),
    }
    if refusal.error is not None:
        return type(refusal.error)(
            refusal.error.message,
            code=refusal.error.code,
            details={**refusal.error.details, **details},
        )
    if gone:
        return _coupons_gone(gone, details)
    return Conflict(
        "The order total changed since you last saw it; review the new totals.",
        code="totals_changed",
        details=details,
    )


def _coupons_gone(gone: list[dict[str, Any]], details: dict[str, Any]) -> Conflict:
    codes = ", ".join(str(e.get("coupon_code")) for e in gone)
    return Conflict(
        f"The coupon {codes} has been used up; it was removed. "
        "Review the new total and place the order again.",
        code="coupon_exhausted",
        details={
            "coupons": [
                {"coupon_id": e.get("coupon_id"), "code": e.get("coupon_code"),
                 "reason": e.get("reason")}
                for e in gone
            ],
            **details,
        },
    )  # fmt: skip
