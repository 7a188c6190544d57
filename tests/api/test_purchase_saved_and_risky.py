"""Sandbox purchases: paying with a saved card, and a risky payment held for review."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_checkout import NY, fill_cart, send, start, to_state
from tests.support import Api, error_code
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"payment_gateway": "sandbox", "payment_risk_threshold": "elevated"}


async def _registered_to_payment(api: Api, rt: Runtime) -> str:
    await fill_cart(api, rt)
    cid = str((await start(api))["id"])
    for type_, fields in [
        ("SELECT_REGISTERED", {}),
        ("SUBMIT_SHIPPING", {"address": NY}),
        ("USE_SHIPPING_ADDRESS", {}),
    ]:
        r = await send(api, cid, type_, **fields)
        assert r.status_code == 200, r.text
    options = (await api.get(f"/api/checkout/{cid}/shipping-options")).json()["items"]
    await send(api, cid, "SELECT_SHIPPING", shipping_method_id=options[0]["id"])
    return cid


async def test_registered_customer_pays_with_a_saved_card(user_api: Api, rt: Runtime) -> None:
    saved = await user_api.post("/api/payment/methods", json={"payment_method_id": "pm_card_visa"})
    assert saved.status_code == 201
    cid = await _registered_to_payment(user_api, rt)
    r = await send(user_api, cid, "SELECT_PAYMENT",
                   payment_method={"type": "saved", "saved_method_id": "pm_card_visa"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await send(user_api, cid, "CONFIRM_ORDER")).status_code == 200
    done = (await user_api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation"


async def test_a_card_saved_by_someone_else_is_refused(user_api: Api, rt: Runtime) -> None:
    cid = await _registered_to_payment(user_api, rt)
    other_card = {"type": "saved", "saved_method_id": "pm_card_mastercard"}
    await send(user_api, cid, "SELECT_PAYMENT", payment_method=other_card)
    r = await send(user_api, cid, "CONFIRM_ORDER")
    assert r.status_code == 422
    assert error_code(r) == "invalid_payment_method"
    assert (await user_api.get(f"/api/checkout/{cid}")).json()["state"] == "order_review"


@pytest.mark.parametrize(("card", "status"), [
    ("pm_card_riskLevelElevated", "paid"),
    ("pm_card_riskLevelHighest", "held_for_review"),
])  # fmt: skip
async def test_payment_above_the_risk_threshold_is_held_for_review(
    api: Api, rt: Runtime, card: str, status: str
) -> None:
    await fill_cart(api, rt)
    cid = str((await start(api))["id"])
    await to_state(api, cid, "payment_method")
    await send(
        api, cid, "SELECT_PAYMENT", payment_method={"type": "card", "payment_method_id": card}
    )
    await send(api, cid, "CONFIRM_ORDER")
    done = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation"
    async with rt.db.transaction() as s:
        order = await s.scalar(select(Order).where(Order.id == done["order_id"]))
    assert order is not None and order.status == status
    assert order.risk_level == card.removeprefix("pm_card_riskLevel").lower()
