"""The order events the owner's shipping and cancelling send: ``order.fulfilled`` with the
shipment (partial, then the rest) and ``order.cancelled`` with the refund of what was left,
each committed with its change and delivered to a real loopback receiver, signed as
docs/webhooks.md verifies; a refused shipment or cancel announces nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.payment_support import paid_order
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.audit.service import SYSTEM
from tillpoint.errors import Conflict
from tillpoint.orders.public import FulfilRequest, ShipLine, cancel_order, fulfil_order
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint, deliver_webhooks

EVENTS = (EventType.order_fulfilled, EventType.order_cancelled)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def _delivered(rt: Runtime, receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    await deliver_webhooks(rt)
    verify = documented_verifier()
    events = []
    for got in receiver.received:
        assert verify(got.body, got.headers["Tillpoint-Signature"], secret)
        events.append(json.loads(got.body))
    receiver.received.clear()
    return events


async def test_each_shipment_sends_order_fulfilled_with_its_lines_and_tracking(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(rt, EndpointDraft(receiver.url, EVENTS))
    order = await paid_order(rt, rt.gateway)  # lines: 2 units, then 1
    line = order.lines[0]
    first = FulfilRequest("UPS", "1Z999AA10123456784", [ShipLine(line.id, 1)])
    await fulfil_order(rt, order.id, first, SYSTEM)
    (event,) = await _delivered(rt, receiver, endpoint.secret)
    assert event["type"] == "order.fulfilled"
    data = event["data"]
    assert (data["id"], data["fulfillment_status"]) == (order.id, "partially_fulfilled")
    shipment = data["fulfillment"]
    assert (shipment["carrier"], shipment["tracking_number"]) == ("UPS", "1Z999AA10123456784")
    assert shipment["tracking_url"].startswith("https://www.ups.com/track?tracknum=1Z999")
    assert shipment["lines"] == [{"sku": line.sku, "name": line.name, "quantity": 1}]

    await fulfil_order(rt, order.id, FulfilRequest("DHL", "JD0001"), SYSTEM)
    (event,) = await _delivered(rt, receiver, endpoint.secret)
    assert event["data"]["fulfillment_status"] == "fulfilled"
    rest = [(x["sku"], x["quantity"]) for x in event["data"]["fulfillment"]["lines"]]
    assert rest == [(line.sku, 1), (order.lines[1].sku, 1)]


async def test_a_cancel_sends_order_cancelled_with_the_refund_of_what_was_left(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(rt, EndpointDraft(receiver.url, EVENTS))
    order = await paid_order(rt, rt.gateway)
    refund = await cancel_order(rt, rt.gateway, order.id, "customer asked", SYSTEM)
    assert refund is not None
    (event,) = await _delivered(rt, receiver, endpoint.secret)
    assert event["type"] == "order.cancelled"
    data = event["data"]
    assert data["status"] == "cancelled"
    assert data["cancelled_at"] is not None
    assert data["refund"] == {
        "id": refund.id,
        "amount": order.total,
        "currency": order.currency,
        "reason": "customer asked",
    }
    assert data["totals"]["refunded"] == order.total


async def test_refused_shipments_and_cancels_announce_nothing(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(rt, EndpointDraft(receiver.url, EVENTS))
    order = await paid_order(rt, rt.gateway)
    await fulfil_order(rt, order.id, FulfilRequest("USPS", "9400"), SYSTEM)
    assert len(await _delivered(rt, receiver, endpoint.secret)) == 1
    with pytest.raises(Conflict):
        await cancel_order(rt, rt.gateway, order.id, None, SYSTEM)  # shipped already
    with pytest.raises(Conflict):
        await fulfil_order(rt, order.id, FulfilRequest("USPS", "9401"), SYSTEM)  # nothing left
    assert await _delivered(rt, receiver, endpoint.secret) == []
