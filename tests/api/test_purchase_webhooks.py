"""A whole purchase over HTTP (offline sandbox) announces itself to the owner's receiver:
the sweeper's webhooks job delivers order.created, order.paid and, as the sale takes the
SKU to its threshold, inventory.low_stock, each signed as docs/webhooks.md verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.support import Api
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.inventory.levels import adjust_stock
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep
from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"payment_gateway": "sandbox", "owner_email": "owner@shop.example"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def test_a_purchase_delivers_its_order_and_low_stock_events(
    api: Api, rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(
        rt,
        EndpointDraft(
            receiver.url,
            (EventType.order_created, EventType.order_paid, EventType.inventory_low_stock),
        ),
    )
    product = await factories.product(rt, price=2000, weight_grams=400)
    await adjust_stock(rt, product.id, on_hand=7, low_stock_threshold=5, reason="stock")
    r = await api.post("/api/cart/items", json={"product_id": product.id, "quantity": 2})
    assert r.status_code == 200, r.text
    cid = str((await start(api))["id"])
    await to_state(api, cid, "payment_method")
    method = {"type": "card", "payment_method_id": "pm_card_visa"}
    assert (await send(api, cid, "SELECT_PAYMENT", payment_method=method)).status_code == 200
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    r = await api.post("/api/payment/confirm", json={"checkout_id": cid})
    assert r.status_code == 200 and r.json()["state"] == "order_confirmation", r.text
    order_id = r.json()["order_id"]
    assert receiver.received == []  # nothing is sent inside the request
    results = await run_sweep(rt)
    assert results["webhooks"] == 3
    verify = documented_verifier()
    events = {}
    for got in receiver.received:
        assert verify(got.body, got.headers["Tillpoint-Signature"], endpoint.secret)
        event = json.loads(got.body)
        events[event["type"]] = event["data"]
    assert set(events) == {"order.created", "order.paid", "inventory.low_stock"}
    assert events["order.paid"]["id"] == order_id and events["order.paid"]["status"] == "paid"
    assert [(ln["sku"], ln["quantity"]) for ln in events["order.paid"]["lines"]] == [
        (product.sku, 2)
    ]
    assert (events["inventory.low_stock"]["sku"], events["inventory.low_stock"]["available"]) == (
        product.sku,
        5,
    )
