"""Coupon holds: a checkout takes its coupons' uses at CONFIRM_ORDER, as it takes its stock.

Before a PaymentIntent exists, ``holdCoupons`` (CONFIRM_ORDER, in the checkout's unit of
work, just before ``reserveStock``) takes one use of each applied coupon with the same
conditional updates a redemption makes (``usage_count < usage_limit``, the per-customer
counters), and records a :class:`CouponHold` per coupon and checkout. So only shoppers
who hold their coupon are ever charged: the others are refused with 409
``coupon_exhausted`` and see the full price first (the coupon leaves the cart).

A hold becomes the redemption when the order is created (:func:`redeem_coupon_holds`,
inside the order's transaction), and gives its use back when the checkout expires
(``releaseReservations``) or its stock reservation lapses (the sweep job
``release_lapsed_holds`` in ``checkout/coupon_steps.py``). A declined payment keeps the
hold while the checkout and its reservation are live, so the retry keeps its discount.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.promotions.errors import CouponUnavailable
from tillpoint.promotions.models import CouponHold, CouponRedemption
from tillpoint.promotions.queries import claim_lapsed_holds
from tillpoint.promotions.rules import MESSAGES, Reason
from tillpoint.promotions.usage import (
    claim_coupon_usage,
    give_back_use,
    rowcount,
    take_use,
)
from tillpoint.runtime import Runtime

HELD, REDEEMED, RELEASED = "held", "redeemed", "released"
EXHAUSTED = "coupon_exhausted"
# Refusal reasons that mean "used up" (as opposed to a coupon gone or switched off).
EXHAUSTED_REASONS = frozenset(
    {Reason.usage_limit_reached.value, Reason.customer_limit_reached.value}
)


def coupon_message(reason: str) -> str:
    try:
        return MESSAGES[Reason(reason)]
    except ValueError:
        return "This coupon is not available."


def _normal_email(email: str | None) -> str | None:
    return email.strip().lower() if email else None


async def hold_coupons(
    s: AsyncSession,
    coupon_ids: Sequence[str],
    *,
    checkout_id: str,
    cart_id: str,
    user_id: str | None,
    email: str | None,
    at: datetime,
) -> list[str]:
    """Hold one use of each coupon for ``checkout_id``, all or nothing; the ids newly held.

    Coupons the checkout already holds keep their hold (a retry after a decline); holds
    of coupons no longer applied are released. Raises :class:`CouponUnavailable` (nothing
    of this call kept) when a coupon cannot be held.
    """
    ids = sorted(set(coupon_ids))  # one lock order for every caller: no deadlocks
    current = {
        h.coupon_id: h
        for h in await s.scalars(
            select(CouponHold).where(
                CouponHold.checkout_id == checkout_id, CouponHold.status == HELD
            )
        )
    }
    for coupon_id in sorted(set(current) - set(ids)):
        await _release(s, current[coupon_id], at)
    todo = [c for c in ids if c not in current]
    if not todo:
        return []
    refused: dict[str, str] = {}
    async with s.begin_nested():  # a refusal undoes this call's uses, not the caller's work
        for coupon_id in todo:
            reason = await take_use(s, coupon_id, user_id=user_id, email=email)
            if reason is not None:
                refused[coupon_id] = reason
                continue
            # A released hold of the same checkout (an earlier attempt) makes way.
            await s.execute(
                delete(CouponHold).where(
                    CouponHold.coupon_id == coupon_id,
                    CouponHold.checkout_id == checkout_id,
                    CouponHold.status != HELD,
                )
            )
            s.add(
                CouponHold(
                    id=new_id("chold"),
                    coupon_id=coupon_id,
                    checkout_id=checkout_id,
                    cart_id=cart_id,
                    status=HELD,
                    user_id=user_id,
                    email=_normal_email(email),
                    held_at=at,
                )
            )
        if refused:
            raise CouponUnavailable(refused)
        await s.flush()
    return todo


async def _release(s: AsyncSession, hold: CouponHold, at: datetime) -> bool:
    """Give one hold's use back (exactly once, however many release it at the same time)."""
    done = await rowcount(
        s,
        update(CouponHold)
        .where(CouponHold.id == hold.id, CouponHold.status == HELD)
        .values(status=RELEASED, closed_at=at)
        .execution_options(synchronize_session=False),
    )
    if done != 1:
        return False
    await give_back_use(s, hold.coupon_id, user_id=hold.user_id, email=hold.email)
    return True


async def release_checkout_holds(s: AsyncSession, checkout_id: str, *, at: datetime) -> list[str]:
    """Give back every use ``checkout_id`` holds (it expired); the coupon ids released."""
    holds = (
        await s.scalars(
            select(CouponHold)
            .where(CouponHold.checkout_id == checkout_id, CouponHold.status == HELD)
            .order_by(CouponHold.coupon_id)
        )
    ).all()
    return [h.coupon_id for h in holds if await _release(s, h, at)]


async def redeem_coupon_holds(
    s: AsyncSession,
    coupon_ids: Sequence[str],
    *,
    checkout_id: str,
    order_id: str,
    user_id: str | None,
    email: str | None,
    at: datetime,
) -> list[str]:
    """Inside the order's unit of work: the checkout's holds become the order's redemptions.

    A coupon whose hold is gone (the reservation lapsed while the customer paid) is
    claimed afresh, as :func:`claim_coupon_usage` does — :class:`CouponUnavailable` if it
    ran out meanwhile (the order is then refused and the payment refunded). Idempotent
    per order; the caller holds the checkout's row lock.
    """
    ids = sorted(set(coupon_ids))
    # Every live hold of the checkout in one read: those of the order's coupons are
    # redeemed, the others released below.
    holding = list(
        await s.scalars(
            select(CouponHold)
            .where(CouponHold.checkout_id == checkout_id, CouponHold.status == HELD)
            .order_by(CouponHold.coupon_id)
        )
    )
    held = {h.coupon_id: h for h in holding if h.coupon_id in ids}
    missing = [c for c in ids if c not in held]
    if missing:
        await claim_coupon_usage(s, missing, user_id=user_id, email=email, order_id=order_id, at=at)
    for coupon_id in sorted(held):
        hold = held[coupon_id]
        done = await rowcount(
            s,
            update(CouponHold)
            .where(CouponHold.id == hold.id, CouponHold.status == HELD)
            .values(status=REDEEMED, order_id=order_id, closed_at=at)
            .execution_options(synchronize_session=False),
        )
        if done != 1:  # released under us: claim the use afresh instead
            await claim_coupon_usage(
                s, [coupon_id], user_id=user_id, email=email, order_id=order_id, at=at
            )
            continue
        s.add(
            CouponRedemption(
                id=new_id("rdm"),
                coupon_id=coupon_id,
                order_id=order_id,
                user_id=hold.user_id,
                email=hold.email,
                claimed_at=at,
            )
        )
    # Holds of coupons the order does not carry (removed before paying) go back.
    for hold in holding:
        if hold.coupon_id not in held:
            await _release(s, hold, at)
    await s.flush()
    return ids


async def release_holds_without(
    rt: Runtime, live_stock: ColumnElement[bool], *, batch: int = 200
) -> int:
    """Release held coupon uses for which ``live_stock`` (a condition on
    :class:`CouponHold`, e.g. "its cart still has an active stock reservation") is false;
    returns how many. The checkout's sweep job says what live stock is
    (``checkout/coupon_steps.py``): the hold lives exactly as long as the checkout's stock."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        q = (
            select(CouponHold)
            .where(CouponHold.status == HELD, ~live_stock)
            .order_by(CouponHold.id)
            .limit(batch)
        )
        lapsed = list(await s.scalars(claim_lapsed_holds(s, q)))
        released = 0
        for hold in lapsed:
            released += await _release(s, hold, now)
        return released
