"""A paid order converts its stock reservation and claims its coupon in the order's own
transaction; a refund is prorated over the discounted lines and can restock; stock that
ran out between payment and order gives the money back instead of overselling."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.support import Api, error_code
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.stock import get_stock_level
from tillpoint.orders.models import Order
from tillpoint.payments.models import PaymentAttempt
from tillpoint.promotions.models import CouponRedemption
from tillpoint.runtime import Runtime


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"payment_gateway": "sandbox", "sandbox_webhook_secret": "whsec_stock"}


@pytest.fixture
def coupons_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    """On main the pricing seam (``pricing/discounts.py``) is not wired to promotions yet;
    these tests wire it to promotions' own ``price_applied_coupons``, as it will be."""
    from tillpoint.cart.applied_coupons import price_applied_coupons
    from tillpoint.pricing import service as pricing_service

    async def discounts_for(rt: Runtime, s: Any, **kw: Any) -> Any:
        return (await price_applied_coupons(rt, s, **kw)).result

    monkeypatch.setattr(pricing_service, "discounts_for", discounts_for)


def _gateway(api: Api) -> Any:
    return api.client._transport.app.state.gateway  # type: ignore[attr-defined]


async def _buy(api: Api, rt: Runtime, product_id: str, qty: int, code: str | None = None) -> str:
    r = await api.post("/api/cart/items", json={"product_id": product_id, "quantity": qty})
    assert r.status_code == 200, r.text
    if code:
        r = await api.post("/api/cart/coupons", json={"code": code})
        assert r.status_code == 200, r.text
    cid = str((await start(api))["id"])
    await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200, r.text
    return cid


async def _orders(api: Api, rt: Runtime) -> list[Order]:
    await _gateway(api).drain()
    async with rt.db.transaction() as s:
        return list(await s.scalars(select(Order)))


@pytest.mark.usefixtures("coupons_priced")
async def test_order_fulfils_stock_claims_coupon_and_refund_restocks(
    api: Api, admin_api: Api, rt: Runtime
) -> None:
    product = await factories.product(rt, price=2500, weight_grams=300)
    await adjust_stock(rt, product.id, on_hand=5, reason="initial")
    coupon = await factories.coupon(rt, code="SAVE10", type="percentage", value=1000)
    cid = await _buy(api, rt, product.id, 2, "SAVE10")
    assert await get_stock_level(rt, product.id) == 3  # reserved
    done = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation"
    [order] = await _orders(api, rt)
    assert order.discount_total == 500 and order.lines[0].discount == 500
    assert await get_stock_level(rt, product.id) == 3  # sold, no longer held
    async with rt.db.transaction() as s:
        claims = list(await s.scalars(select(CouponRedemption)))
    assert [(c.coupon_id, c.order_id) for c in claims] == [(coupon.id, order.id)]
    refund = await admin_api.post(
        f"/api/admin/orders/{order.id}/refunds", json={"restock": True, "reason": "returned"}
    )
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["order"]["status"] == "refunded"
    assert body["order"]["lines"][0]["refunded"] == order.lines[0].total
    assert await get_stock_level(rt, product.id) == 5


async def test_a_partial_refund_restocks_only_the_units_it_names(
    api: Api, admin_api: Api, rt: Runtime
) -> None:
    product = await factories.product(rt, price=1000)
    await adjust_stock(rt, product.id, on_hand=10, reason="initial")
    cid = await _buy(api, rt, product.id, 4)
    await api.post("/api/payment/confirm", json={"checkout_id": cid})
    [order] = await _orders(api, rt)
    line = order.lines[0]
    url = f"/api/admin/orders/{order.id}/refunds"
    # A partial amount cannot say which units come back: refused, nothing changes.
    vague = await admin_api.post(url, json={"amount": line.total // 4, "restock": True})
    assert vague.status_code == 422 and error_code(vague) == "restock_needs_lines"
    assert await get_stock_level(rt, product.id) == 6
    named = await admin_api.post(
        url, json={"lines": [{"line_id": line.id, "quantity": 1, "restock": True}]}
    )
    assert named.status_code == 201, named.text
    assert await get_stock_level(rt, product.id) == 7


async def test_stock_gone_between_payment_and_order_refunds_instead_of_overselling(
    api: Api, rt: Runtime, clock: Any
) -> None:
    product = await factories.product(rt, price=1000)
    await adjust_stock(rt, product.id, on_hand=1, reason="last one")
    cid = await _buy(api, rt, product.id, 1)
    checkout = (await api.get(f"/api/checkout/{cid}")).json()
    intent_id = checkout["context"]["payment"]["intent_id"]
    # The reservation lapses and someone else buys the last unit meanwhile.
    from tests.inventory_support import release

    await release(rt, f"{cid}:r1")
    await adjust_stock(rt, product.id, on_hand=0, reason="sold in store")
    result = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert result["order_id"] is None and result["state"] == "payment_refunded"
    assert result["refund"]["reason"] == "out_of_stock"
    assert await _orders(api, rt) == []
    gateway = _gateway(api)
    assert gateway._intents[intent_id].refunded == gateway._intents[intent_id].amount
    async with rt.db.transaction() as s:
        attempt = await s.scalar(
            select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == intent_id)
        )
        assert attempt is not None and attempt.status == "refunded"
    again = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert again["order_id"] is None
    assert gateway._intents[intent_id].refunded == gateway._intents[intent_id].amount


async def test_a_refund_whose_path_stopped_before_moving_the_checkout_is_finished_as_recorded(
    api: Api, rt: Runtime
) -> None:
    from tests.inventory_support import release
    from tillpoint.checkout import orphan_refunds, payment_sync
    from tillpoint.checkout.machine import Event
    from tillpoint.checkout.service import apply_server_event

    product = await factories.product(rt, price=1000)
    await adjust_stock(rt, product.id, on_hand=1, reason="last one")
    cid = await _buy(api, rt, product.id, 1)
    gateway = _gateway(api)
    gateway.delivery_delay = 60.0
    intent_id = (await api.get(f"/api/checkout/{cid}")).json()["context"]["payment"]["intent_id"]
    await release(rt, f"{cid}:r1")
    await adjust_stock(rt, product.id, on_hand=0, reason="sold in store")
    intent = await gateway.confirm_payment_intent(intent_id, idempotency_key="browser")
    await apply_server_event(rt, cid, Event.PAYMENT_SUCCESS)
    # One path refunded (and recorded why), then its process died before the checkout moved.
    assert await orphan_refunds.refund_orphan(rt, gateway, cid, intent, reason="out_of_stock")
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "payment_success"
    result = await payment_sync.sync_payment(rt, cid)  # the sweeper's call
    assert result.state == "payment_refunded" and result.refund is not None
    assert result.refund["reason"] == "out_of_stock" and "sold out" in result.refund["message"]
    assert result.refund["amount"] == intent.amount == gateway._intents[intent_id].refunded
