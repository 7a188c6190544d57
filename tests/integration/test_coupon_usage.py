"""Coupon usage claimed and released exactly, also when many checkouts race for it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from tests import factories
from tillpoint.promotions.errors import CouponUnavailable
from tillpoint.promotions.models import Coupon, CouponCustomerUsage, CouponRedemption
from tillpoint.promotions.usage import claim_coupon_usage, release_coupon_usage
from tillpoint.runtime import Runtime


async def _usage(rt: Runtime, coupon_id: str) -> int:
    async with rt.db.transaction() as s:
        return int(await s.scalar(select(Coupon.usage_count).where(Coupon.id == coupon_id)) or 0)


async def _claim(
    rt: Runtime, ids: list[str], order: str, email: str | None = None, user: str | None = None
) -> list[str]:
    async with rt.db.transaction() as s:
        return await claim_coupon_usage(s, ids, user_id=user, email=email, order_id=order)


async def test_fifty_concurrent_claims_for_ten_uses_left_give_exactly_ten(rt: Runtime) -> None:
    c = await factories.coupon(rt, "LAST10", usage_limit=15)
    for i in range(5):  # five already used: ten left
        await _claim(rt, [c.id], f"ord_old{i}", email=f"old{i}@example.com")

    async def checkout(i: int) -> bool:
        try:
            await _claim(rt, [c.id], f"ord_{i:03d}", email=f"buyer{i}@example.com")
        except CouponUnavailable as exc:
            assert exc.refused == {c.id: "usage_limit_reached"}
            return False
        return True

    outcomes = await asyncio.gather(*(checkout(i) for i in range(50)))
    assert sum(outcomes) == 10
    assert await _usage(rt, c.id) == 15
    async with rt.db.transaction() as s:
        claims = await s.scalar(
            select(func.count())
            .select_from(CouponRedemption)
            .where(CouponRedemption.coupon_id == c.id)
        )
    assert claims == 15


async def test_per_customer_limit_holds_under_concurrency(rt: Runtime) -> None:
    c = await factories.coupon(rt, "ONCE", per_customer_limit=1)

    async def checkout(i: int) -> bool:
        try:
            # The same guest (email in any case) from twenty tabs.
            await _claim(
                rt,
                [c.id],
                f"ord_{i:03d}",
                email="Same@Example.com" if i % 2 else "same@example.com",
            )
        except CouponUnavailable as exc:
            assert exc.refused == {c.id: "customer_limit_reached"}
            return False
        return True

    outcomes = await asyncio.gather(*(checkout(i) for i in range(20)))
    assert sum(outcomes) == 1
    assert await _usage(rt, c.id) == 1  # the refused claims left no count behind


async def test_claim_is_all_or_nothing_and_idempotent_per_order(rt: Runtime) -> None:
    plenty = await factories.coupon(rt, "PLENTY", combinable=True)
    scarce = await factories.coupon(rt, "SCARCE", combinable=True, usage_limit=1)
    await _claim(rt, [scarce.id], "ord_first", email="a@example.com")
    with pytest.raises(CouponUnavailable) as info:
        await _claim(rt, [plenty.id, scarce.id], "ord_second", email="b@example.com")
    assert info.value.refused == {scarce.id: "usage_limit_reached"}
    assert info.value.code == "coupon_unavailable" and info.value.status == 409
    assert await _usage(rt, plenty.id) == 0  # not half claimed
    assert await _claim(rt, [plenty.id], "ord_third", email="c@example.com") == [plenty.id]
    # Finalising the same order again (browser and webhook) claims nothing more.
    assert await _claim(rt, [plenty.id], "ord_third", email="c@example.com") == []
    assert await _usage(rt, plenty.id) == 1


async def test_caller_work_survives_a_refused_claim(rt: Runtime) -> None:
    scarce = await factories.coupon(rt, "GONE", usage_limit=1)
    other = await factories.coupon(rt, "KEPT")
    await _claim(rt, [scarce.id], "ord_a", email="a@example.com")
    async with rt.db.transaction() as s:
        assert await claim_coupon_usage(
            s, [other.id], user_id=None, email="b@example.com", order_id="ord_b"
        )
        with pytest.raises(CouponUnavailable):
            await claim_coupon_usage(
                s, [scarce.id], user_id=None, email="b@example.com", order_id="ord_b"
            )
    assert await _usage(rt, other.id) == 1


async def test_inactive_and_missing_coupons_are_refused(rt: Runtime) -> None:
    from tillpoint.promotions.admin import deactivate_coupon

    c = await factories.coupon(rt, "OFF")
    await deactivate_coupon(rt, c.id)
    with pytest.raises(CouponUnavailable) as info:
        await _claim(rt, [c.id, "cpn_" + "x" * 22], "ord_x", email="a@example.com")
    assert info.value.refused == {c.id: "inactive", "cpn_" + "x" * 22: "not_found"}


async def test_release_gives_uses_back_once(rt: Runtime) -> None:
    c = await factories.coupon(rt, "BACK", usage_limit=1, per_customer_limit=1)
    await _claim(rt, [c.id], "ord_1", email="a@example.com", user="usr_1")
    with pytest.raises(CouponUnavailable):
        await _claim(rt, [c.id], "ord_2", email="b@example.com")
    async with rt.db.transaction() as s:
        assert await release_coupon_usage(s, order_id="ord_1") == [c.id]
    async with rt.db.transaction() as s:
        assert await release_coupon_usage(s, order_id="ord_1") == []
    assert await _usage(rt, c.id) == 0
    async with rt.db.transaction() as s:
        counts = dict(
            (
                await s.execute(
                    select(CouponCustomerUsage.customer_key, CouponCustomerUsage.usage_count)
                )
            ).all()
        )
    assert counts == {"user:usr_1": 0, "email:a@example.com": 0}
    # The same customer may use it again, and a failed order may retry its own claim.
    await _claim(rt, [c.id], "ord_1", email="a@example.com", user="usr_1")
    assert await _usage(rt, c.id) == 1


async def test_concurrent_releases_give_back_one_use(rt: Runtime) -> None:
    c = await factories.coupon(rt, "TWICE", usage_limit=3)
    await _claim(rt, [c.id], "ord_r", email="a@example.com")

    async def release() -> list[str]:
        async with rt.db.transaction() as s:
            return await release_coupon_usage(s, order_id="ord_r")

    results = await asyncio.gather(*(release() for _ in range(8)))
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    assert await _usage(rt, c.id) == 0
