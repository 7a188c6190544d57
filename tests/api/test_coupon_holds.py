"""Coupon uses are held at CONFIRM_ORDER, before any PaymentIntent exists, as stock is:
only shoppers who hold their coupon are charged; the others are refused with 409
``coupon_exhausted``, see the full price, and can confirm again. A hold survives a
declined card, becomes the redemption once, and goes back on expiry or when the stock
reservation lapses. Orphan refunds (paid, but no order possible) run exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.support import Api, MovableClock
from tillpoint.audit.models import AuditLog
from tillpoint.checkout import orphan_refunds, payment_sync
from tillpoint.checkout.coupon_steps import release_lapsed_holds
from tillpoint.checkout.service import expire_checkouts
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.reservations import expire_reservations
from tillpoint.inventory.stock import get_stock_level
from tillpoint.orders.models import Order
from tillpoint.payments.models import PaymentAttempt
from tillpoint.promotions.models import Coupon, CouponHold, CouponRedemption
from tillpoint.runtime import Runtime

NewApi = Callable[..., Awaitable[Api]]
DECLINE = {"type": "card", "payment_method_id": "pm_card_chargeDeclined"}
VISA = {"type": "card", "payment_method_id": "pm_card_visa"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Every shopper here pays with the same test card and email: lift the velocity limits.
    return {
        "payment_gateway": "sandbox",
        "sandbox_webhook_secret": "whsec_holds",
        "payment_max_attempts_per_card": 1000,
        "payment_max_attempts_per_email": 1000,
    }


def _gateway(api: Api) -> Any:
    return api.client._transport.app.state.gateway  # type: ignore[attr-defined]


async def _to_review(api: Api, product_id: str, code: str | None, card: dict[str, Any]) -> str:
    r = await api.post("/api/cart/items", json={"product_id": product_id, "quantity": 1})
    assert r.status_code == 200, r.text
    if code:
        r = await api.post("/api/cart/coupons", json={"code": code})
        assert r.status_code == 200, r.text
    cid = str((await start(api))["id"])
    await to_state(api, cid, "payment_method")
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=card)
    assert r.status_code == 200 and r.json()["state"] == "order_review", r.text
    return cid


async def _count(rt: Runtime, stmt: Any) -> int:
    async with rt.db.transaction() as s:
        return int(await s.scalar(stmt) or 0)


async def _usage(rt: Runtime, coupon_id: str) -> int:
    return await _count(rt, select(Coupon.usage_count).where(Coupon.id == coupon_id))


async def _holds(rt: Runtime, coupon_id: str) -> Counter[str]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(select(CouponHold.status).where(CouponHold.coupon_id == coupon_id))
        return Counter(rows)


async def _attempts(rt: Runtime, checkout_id: str) -> int:
    return await _count(
        rt,
        select(func.count())
        .select_from(PaymentAttempt)
        .where(PaymentAttempt.checkout_id == checkout_id),
    )


async def test_thirty_confirms_for_a_ten_use_coupon_hold_ten_and_charge_nobody_else(
    new_api: NewApi, rt: Runtime
) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=100, reason="drop")
    coupon = await factories.coupon(rt, "RUSH10", usage_limit=10)
    shoppers = [await new_api() for _ in range(30)]
    cids = [await _to_review(api, product.id, "RUSH10", VISA) for api in shoppers]

    answers = await asyncio.gather(
        *(send(api, cid, "CONFIRM_ORDER") for api, cid in zip(shoppers, cids, strict=True))
    )
    held = [i for i, r in enumerate(answers) if r.status_code == 200]
    refused = [i for i, r in enumerate(answers) if r.status_code != 200]
    assert len(held) == 10 and len(refused) == 20
    for i in held:
        assert answers[i].json()["state"] == "payment_processing"
        assert answers[i].json()["context"]["totals"]["discount"] > 0
    for i in refused:
        error = answers[i].json()["error"]
        assert answers[i].status_code == 409 and error["code"] == "coupon_exhausted"
        assert error["details"]["coupons"] == [
            {"coupon_id": coupon.id, "code": "RUSH10", "reason": "usage_limit_reached"}
        ]
        assert "RUSH10" in error["message"]
        assert error["details"]["totals"]["discount"] == 0
        assert any(n["code"] == "coupon_removed" for n in error["details"]["notices"])
        # Back in review at full price, the coupon off the cart, and no payment started.
        view = (await shoppers[i].get(f"/api/checkout/{cids[i]}")).json()
        assert view["state"] == "order_review"
        assert view["context"]["totals"]["discount"] == 0
        assert not view["context"].get("payment")
        assert await _attempts(rt, cids[i]) == 0
        cart = (await shoppers[i].get("/api/cart")).json()
        assert cart["coupons"] == []
    assert await _usage(rt, coupon.id) == 10
    assert await _holds(rt, coupon.id) == Counter({"held": 10})
    assert await get_stock_level(rt, product.id) == 90  # only the holders reserved stock

    # A refused shopper places the order at full price on the next try.
    again = await send(shoppers[refused[0]], cids[refused[0]], "CONFIRM_ORDER")
    assert again.status_code == 200, again.text
    assert again.json()["context"]["totals"]["discount"] == 0
    assert await _usage(rt, coupon.id) == 10


async def test_a_hold_survives_a_decline_is_redeemed_once_and_never_double_counts(
    new_api: NewApi, rt: Runtime
) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=5, reason="drop")
    coupon = await factories.coupon(rt, "ONLYONE", usage_limit=1)
    ada, bob = await new_api(), await new_api()
    cid = await _to_review(ada, product.id, "ONLYONE", DECLINE)
    bob_cid = await _to_review(bob, product.id, "ONLYONE", VISA)
    assert (await send(ada, cid, "CONFIRM_ORDER")).status_code == 200
    declined = (await ada.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert declined["state"] == "payment_failed"
    await _gateway(ada).drain()
    assert await _usage(rt, coupon.id) == 1  # still Ada's while her checkout is live

    # Bob cannot take the use Ada holds: refused before any payment.
    r = await send(bob, bob_cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and r.json()["error"]["code"] == "coupon_exhausted"
    assert await _attempts(rt, bob_cid) == 0

    # Ada retries with another card: her own hold does not count against her.
    assert (await send(ada, cid, "RETRY_PAYMENT")).json()["state"] == "payment_method"
    assert (await send(ada, cid, "SELECT_PAYMENT", payment_method=VISA)).status_code == 200
    retry = await send(ada, cid, "CONFIRM_ORDER")
    assert retry.status_code == 200, retry.text
    assert retry.json()["context"]["totals"]["discount"] == 200
    assert await _usage(rt, coupon.id) == 1
    done = (await ada.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation"
    await _gateway(ada).drain()
    # The browser, the webhook and the sweeper all finalize again: counted once.
    await asyncio.gather(*(payment_sync.sync_payment(rt, cid) for _ in range(3)))
    async with rt.db.transaction() as s:
        [order] = list(await s.scalars(select(Order)))
        redemptions = list(await s.scalars(select(CouponRedemption)))
    assert order.discount_total == 200
    assert [(r.coupon_id, r.order_id) for r in redemptions] == [(coupon.id, order.id)]
    assert await _holds(rt, coupon.id) == Counter({"redeemed": 1})
    assert await _usage(rt, coupon.id) == 1


async def test_abandoned_checkout_gives_its_hold_back_on_expiry(
    new_api: NewApi, rt: Runtime, clock: MovableClock
) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=5, reason="drop")
    coupon = await factories.coupon(rt, "ABANDON", usage_limit=1)
    ada = await new_api()
    cid = await _to_review(ada, product.id, "ABANDON", DECLINE)
    assert (await send(ada, cid, "CONFIRM_ORDER")).status_code == 200
    await ada.post("/api/payment/confirm", json={"checkout_id": cid})
    await _gateway(ada).drain()
    assert await _usage(rt, coupon.id) == 1
    clock.advance(seconds=rt.settings.checkout_ttl_seconds + 1)
    assert await expire_checkouts(rt) == 1
    assert await _usage(rt, coupon.id) == 0
    assert await _holds(rt, coupon.id) == Counter({"released": 1})
    assert await release_lapsed_holds(rt) == 0  # released once only
    assert await _usage(rt, coupon.id) == 0


async def test_a_lapsed_stock_reservation_releases_the_hold_with_it(
    new_api: NewApi, rt: Runtime, clock: MovableClock
) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=5, reason="drop")
    coupon = await factories.coupon(rt, "LAPSE", usage_limit=1)
    ada = await new_api()
    cid = await _to_review(ada, product.id, "LAPSE", VISA)
    assert (await send(ada, cid, "CONFIRM_ORDER")).status_code == 200
    assert await release_lapsed_holds(rt) == 0  # live stock: the hold stays
    clock.advance(seconds=rt.settings.inventory_reservation_ttl_seconds + 1)
    assert await expire_reservations(rt) == 1
    assert await release_lapsed_holds(rt) == 1
    assert await _usage(rt, coupon.id) == 0
    # Paying afterwards still makes the order: the use is claimed again (it is free).
    done = (await ada.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation", done
    await _gateway(ada).drain()
    assert await _usage(rt, coupon.id) == 1
    assert await _count(rt, select(func.count()).select_from(CouponRedemption)) == 1


async def test_the_per_customer_limit_is_held_the_same_way(new_api: NewApi, rt: Runtime) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=20, reason="drop")
    coupon = await factories.coupon(rt, "ONCEEACH", per_customer_limit=1)
    # The same guest (same email) in four browsers.
    tabs = [await new_api() for _ in range(4)]
    cids = [await _to_review(api, product.id, "ONCEEACH", VISA) for api in tabs]
    answers = await asyncio.gather(
        *(send(api, cid, "CONFIRM_ORDER") for api, cid in zip(tabs, cids, strict=True))
    )
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "coupon_exhausted"
            assert r.json()["error"]["details"]["coupons"][0]["reason"] in {
                "customer_limit_reached"
            }
    assert await _usage(rt, coupon.id) == 1
    assert await _holds(rt, coupon.id) == Counter({"held": 1})


async def test_an_orphan_payment_is_refunded_once_however_many_paths_race(
    api: Api, rt: Runtime
) -> None:
    product = await factories.product(rt, price=1000)
    await adjust_stock(rt, product.id, on_hand=1, reason="last one")
    cid = await _to_review(api, product.id, None, VISA)
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    view = (await api.get(f"/api/checkout/{cid}")).json()
    intent_id = view["context"]["payment"]["intent_id"]
    gateway = _gateway(api)
    # The stock is gone before the order can be made, and the card is charged anyway.
    from tests.inventory_support import release

    await release(rt, f"{cid}:r1")
    await adjust_stock(rt, product.id, on_hand=0, reason="sold in store")
    intent = await gateway.confirm_payment_intent(intent_id, idempotency_key="t-orphan")
    # Browser, webhook and sweeper finalize at once; each would refund.
    await asyncio.gather(
        *(payment_sync.sync_payment(rt, cid) for _ in range(3)),
        *(payment_sync.sync_intent(rt, intent) for _ in range(3)),
        *(orphan_refunds.refund_orphan(rt, gateway, cid, intent) for _ in range(3)),
    )
    await gateway.drain()
    async with rt.db.transaction() as s:
        refunds = await s.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.event_type == "payment_refunded_without_order")
        )
        attempt = await s.scalar(
            select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == intent_id)
        )
    assert refunds == 1
    assert attempt is not None and attempt.status == "refunded"
    assert gateway._intents[intent_id].refunded == gateway._intents[intent_id].amount
    assert await _count(rt, select(func.count()).select_from(Order)) == 0


async def test_paid_after_the_coupon_hold_lapsed_and_was_used_up_ends_refunded_and_says_why(
    new_api: NewApi, rt: Runtime, clock: MovableClock
) -> None:
    product = await factories.product(rt, price=2000, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=5, reason="drop")
    coupon = await factories.coupon(rt, "LASTUSE", usage_limit=1)
    ada, bob = await new_api(), await new_api()
    cid = await _to_review(ada, product.id, "LASTUSE", VISA)
    assert (await send(ada, cid, "CONFIRM_ORDER")).status_code == 200
    _gateway(ada).delivery_delay = 60.0  # the browser's path only
    # Ada's hold lapses with her stock reservation; Bob takes the last use and buys.
    clock.advance(seconds=rt.settings.inventory_reservation_ttl_seconds + 1)
    assert await expire_reservations(rt) == 1
    assert await release_lapsed_holds(rt) == 1
    bob_cid = await _to_review(bob, product.id, "LASTUSE", VISA)
    assert (await send(bob, bob_cid, "CONFIRM_ORDER")).status_code == 200
    bob_paid = (await bob.post("/api/payment/confirm", json={"checkout_id": bob_cid})).json()
    assert bob_paid["state"] == "order_confirmation"
    # Ada's payment goes through after all: no order for her, her money back, and why.
    done = (await ada.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "payment_refunded" and done["order_id"] is None
    assert done["refund"]["reason"] == "coupon_unavailable"
    view = (await ada.get(f"/api/checkout/{cid}")).json()
    refund = view["context"]["payment"]["refund"]
    assert "coupon" in refund["message"] and "refunded in full" in refund["message"]
    intent_id = view["context"]["payment"]["intent_id"]
    intent = _gateway(ada)._intents[intent_id]
    assert intent.refunded == intent.amount == refund["amount"]
    assert await _usage(rt, coupon.id) == 1  # Bob's only
    assert await _count(rt, select(func.count()).select_from(Order)) == 1
