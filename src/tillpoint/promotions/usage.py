"""Coupon usage, counted exactly: the conditional updates that take and give back a use.

Checkouts take their uses at CONFIRM_ORDER through ``promotions/holds.py`` (which calls
:func:`take_use` / :func:`give_back_use`); :func:`claim_coupon_usage` claims directly for an
order, for a coupon whose hold lapsed before the order could be created.

A claim is one conditional UPDATE per coupon (``usage_count < usage_limit``) and one
conditional upsert per customer key (``usage_count < per_customer_limit``), so the
database itself refuses the use past the limit however many checkouts race for it.
Both run inside the caller's unit of work (the order's), under a savepoint: either
every coupon of the order is claimed, or none is and :class:`CouponUnavailable` says
which ran out. Claims are keyed by order id, so finalising an order twice claims once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.promotions.errors import CouponUnavailable
from tillpoint.promotions.fetch import customer_keys
from tillpoint.promotions.models import Coupon, CouponCustomerUsage, CouponRedemption
from tillpoint.promotions.queries import count_customer_use
from tillpoint.promotions.rules import Reason


async def claim_coupon_usage(
    s: AsyncSession,
    coupon_ids: Sequence[str],
    *,
    user_id: str | None,
    email: str | None,
    order_id: str,
    at: datetime | None = None,
) -> list[str]:
    """Count one use of each coupon for ``order_id``, all or nothing; returns the ids claimed.

    Raises :class:`CouponUnavailable` (409 ``coupon_unavailable``, ``refused`` = coupon id →
    reason) if a coupon is used up, inactive, gone, or used up by this customer (by
    ``user_id`` and by ``email``); then nothing of this call is left claimed. Coupons
    this order already holds are not claimed again.
    """
    ids = sorted(set(coupon_ids))  # one lock order for every caller: no deadlocks
    if not ids:
        return []
    held = set(
        await s.scalars(
            select(CouponRedemption.coupon_id).where(
                CouponRedemption.order_id == order_id,
                CouponRedemption.coupon_id.in_(ids),
                CouponRedemption.released_at.is_(None),
            )
        )
    )
    todo = [c for c in ids if c not in held]
    keys = customer_keys(user_id, email)
    refused: dict[str, str] = {}
    # The savepoint undoes this call's claims (not the caller's work) if any is refused.
    async with s.begin_nested():
        for coupon_id in todo:
            reason = await _claim_one(s, coupon_id, keys)
            if reason is not None:
                refused[coupon_id] = reason
                continue
            await _forget_released(s, coupon_id, order_id)
            s.add(
                CouponRedemption(
                    id=new_id("rdm"),
                    coupon_id=coupon_id,
                    order_id=order_id,
                    user_id=user_id,
                    email=email.strip().lower() if email else None,
                    claimed_at=at or func.now(),
                )
            )
        if refused:
            raise CouponUnavailable(refused)
        await s.flush()
    return todo


async def take_use(
    s: AsyncSession, coupon_id: str, *, user_id: str | None, email: str | None
) -> str | None:
    """Take one use of the coupon and of the customer's counters (a hold or a claim does
    this); the refusal reason, or None. Run it under the caller's savepoint: a refusal
    may leave the coupon's own count taken."""
    return await _claim_one(s, coupon_id, customer_keys(user_id, email))


async def give_back_use(
    s: AsyncSession, coupon_id: str, *, user_id: str | None, email: str | None
) -> None:
    """Undo one :func:`take_use` (a released hold or claim)."""
    await s.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, Coupon.usage_count > 0)
        .values(usage_count=Coupon.usage_count - 1)
        .execution_options(synchronize_session=False)
    )
    for key in customer_keys(user_id, email):
        await s.execute(
            update(CouponCustomerUsage)
            .where(
                CouponCustomerUsage.coupon_id == coupon_id,
                CouponCustomerUsage.customer_key == key,
                CouponCustomerUsage.usage_count > 0,
            )
            .values(usage_count=CouponCustomerUsage.usage_count - 1)
            .execution_options(synchronize_session=False)
        )


async def _claim_one(s: AsyncSession, coupon_id: str, keys: Sequence[str]) -> str | None:
    """Take one use of the coupon and of each customer key; the refusal reason, or None."""
    taken = await rowcount(
        s,
        update(Coupon)
        .where(
            Coupon.id == coupon_id,
            Coupon.is_active.is_(True),
            or_(Coupon.usage_limit.is_(None), Coupon.usage_count < Coupon.usage_limit),
        )
        .values(usage_count=Coupon.usage_count + 1)
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        row = await s.get(Coupon, coupon_id)
        if row is None:
            return Reason.not_found.value
        return (Reason.inactive if not row.is_active else Reason.usage_limit_reached).value
    limit = await s.scalar(select(Coupon.per_customer_limit).where(Coupon.id == coupon_id))
    for key in keys:
        if not await _count_customer_use(s, coupon_id, key, limit):
            return Reason.customer_limit_reached.value
    return None


async def _count_customer_use(s: AsyncSession, coupon_id: str, key: str, limit: int | None) -> bool:
    """Add one to the customer's counter unless it already reached ``limit``."""
    if limit is not None and limit < 1:
        return False
    return await rowcount(s, count_customer_use(s, coupon_id, key, limit)) == 1


async def _forget_released(s: AsyncSession, coupon_id: str, order_id: str) -> None:
    """A released claim of the same order (payment retried after failing) makes way."""
    await s.execute(
        delete(CouponRedemption).where(
            CouponRedemption.coupon_id == coupon_id,
            CouponRedemption.order_id == order_id,
            CouponRedemption.released_at.is_not(None),
        )
    )


async def release_coupon_usage(
    s: AsyncSession, *, order_id: str, at: datetime | None = None
) -> list[str]:
    """Give back every use ``order_id`` claimed (order cancelled, payment failed for good).

    Idempotent: a second call, or a concurrent one, releases nothing more. Returns the
    ids of the coupons released by this call.
    """
    claims = (
        await s.scalars(
            select(CouponRedemption)
            .where(CouponRedemption.order_id == order_id, CouponRedemption.released_at.is_(None))
            .order_by(CouponRedemption.coupon_id)
        )
    ).all()
    released: list[str] = []
    for claim in claims:
        done = await rowcount(
            s,
            update(CouponRedemption)
            .where(CouponRedemption.id == claim.id, CouponRedemption.released_at.is_(None))
            .values(released_at=at or func.now())
            .execution_options(synchronize_session=False),
        )
        if done != 1:
            continue
        await give_back_use(s, claim.coupon_id, user_id=claim.user_id, email=claim.email)
        released.append(claim.coupon_id)
    return released


async def rowcount(s: AsyncSession, stmt: Any) -> int:
    result = await s.execute(stmt)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
