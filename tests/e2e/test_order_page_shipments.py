"""The customer's order page after staff shipped one unit of three and refunded another
(restocked: one is left to ship): the parcel with its tracking link, and the refund in words."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from tests.e2e.conftest import LiveServer, assert_accessible
from tests.e2e.shopper import guest_to_payment, pay_with
from tests.e2e.test_purchase import confirmation
from tillpoint.audit.service import SYSTEM
from tillpoint.orders.fulfilment import FulfilRequest, ShipLine, fulfil_order
from tillpoint.orders.models import Order
from tillpoint.orders.refunds import RefundLine, RefundRequest, refund_order
from tillpoint.runtime import Runtime


def test_the_order_page_shows_parcels_with_tracking_and_refunds_in_words(
    page: Any, live: LiveServer, shots: Any
) -> None:
    guest_to_payment(page, ("Assam Breakfast Tea, 250 g", 3), email="buyer@example.com")
    pay_with(page, "4242")
    confirmation(page).get_by_role("link", name="View your order").click()
    page.wait_for_url("**/orders/*")
    expect(page.locator("#order")).to_contain_text("Not shipped yet")

    async def ship_one_refund_one(rt: Runtime) -> None:
        async with rt.db.transaction() as s:
            [order] = list(await s.scalars(select(Order)))
            line_id = order.lines[0].id
        request = FulfilRequest("UPS", "1Z999AA10123456784", [ShipLine(line_id, 1)])
        await fulfil_order(rt, order.id, request, SYSTEM)
        refund = RefundRequest(
            None, "e2e-1", reason="Dented tin", lines=[RefundLine(line_id, 1, restock=True)]
        )
        await refund_order(rt, live.app.state.gateway, order.id, refund, SYSTEM)

    live.call(ship_one_refund_one)
    page.reload()
    order = page.locator("#order")
    expect(order.locator(".fulfillment-status")).to_have_text("Delivery: Partly shipped")
    parcel = order.locator(".fulfillments li")
    expect(parcel).to_contain_text("Shipped with UPS: 1 \u00d7 Assam Breakfast Tea, 250 g")
    link = parcel.get_by_role("link", name="1Z999AA10123456784")
    expect(link).to_have_attribute("href", "https://www.ups.com/track?tracknum=1Z999AA10123456784")
    expect(order.locator(".refunds li")).to_contain_text(
        "(Dented tin); taken back: 1 \u00d7 Assam Breakfast Tea, 250 g"
    )
    assert_accessible(page, context="order page with shipments")
    shots(page, "order-shipped")
