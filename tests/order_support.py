"""Paid orders of stocked products, made through the real services (a sandbox payment,
then ``insert_order_rows``), for the admin order, fulfilment and refund tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillpoint.catalog.models import Product
from tillpoint.ids import new_id
from tillpoint.orders.models import Order
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.runtime import Runtime

SHIPPING = 500


def gateway_of(api: Any) -> Any:
    return api.client._transport.app.state.gateway


async def order_of(
    rt: Runtime,
    gateway: Any,
    items: Sequence[tuple[Product, int]],
    *,
    email: str = "buyer@example.com",
) -> Order:
    """A paid order of ``items`` (product, quantity) at list price, no discount or tax,
    plus 500 shipping."""
    lines = tuple(
        LineDraft(p.id, None, p.name, q, p.price, p.price * q, 0, 0, p.price * q, sku=p.sku)
        for p, q in items
    )
    subtotal = sum(line.total for line in lines)
    total = subtotal + SHIPPING
    checkout = new_id("chk")
    intent = await gateway.create_payment_intent(
        CreateIntent(
            amount=total, currency="USD", idempotency_key=f"{checkout}:1:pay",
            payment_method_id="pm_card_visa", confirm=True,
        )
    )  # fmt: skip
    draft = OrderDraft(
        checkout_id=checkout, currency="USD", subtotal=subtotal, discount_total=0,
        shipping_total=SHIPPING, tax_total=0, total=total, lines=lines, shipping_paid=SHIPPING,
        email=email,
    )  # fmt: skip
    async with rt.db.transaction() as s:
        inserted = await insert_order_rows(
            s, rt.settings, draft, intent, gateway=gateway.name, held_for_review=False,
            now=rt.clock.now(),
        )  # fmt: skip
        order = await s.get(Order, inserted.id)
    assert order is not None
    return order
