"""A paid, taxed US order through the real services (sandbox payment, then
``insert_order_rows``), for the tax providers' record tests.

Lines: Tea 2 x 3000 with a 600 discount and 479 tax, Mug 1 x 2000 with 200 and 160
(exempt category); shipping 500 + 44 tax; shipped to New York. Total 8383.
"""

from __future__ import annotations

from typing import Any

from tillpoint.ids import new_id
from tillpoint.orders.models import Order
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.runtime import Runtime

NEW_YORK = {
    "first_name": "Ada", "last_name": "Lovelace", "street1": "350 5th Ave",
    "city": "New York", "state": "NY", "zip_code": "10118", "country": "US",
}  # fmt: skip
TOTAL = 5400 + 479 + 1800 + 160 + 500 + 44


async def taxed_order(rt: Runtime, *, user_id: str | None = None) -> Order:
    checkout = new_id("chk")
    lines = (
        LineDraft("prod_tea", None, "Tea", 2, 3000, 6000, 600, 479, 5879, sku="TEA-1"),
        LineDraft("prod_mug", None, "Mug", 1, 2000, 2000, 200, 160, 1960, sku="MUG-1",
                  tax_category="reduced"),
    )  # fmt: skip
    intent = await rt.gateway.create_payment_intent(
        CreateIntent(
            amount=TOTAL, currency="USD", idempotency_key=f"{checkout}:1:pay",
            payment_method_id="pm_card_visa", confirm=True,
        )
    )  # fmt: skip
    draft = OrderDraft(
        checkout_id=checkout, currency="USD", subtotal=8000, discount_total=800,
        shipping_total=500, tax_total=683, total=TOTAL, lines=lines, shipping_paid=544,
        user_id=user_id, email="ada@example.com", shipping_address=dict(NEW_YORK),
    )  # fmt: skip
    async with rt.db.transaction() as s:
        inserted = await insert_order_rows(
            s, rt.settings, draft, intent, gateway=rt.gateway.name, held_for_review=False,
            now=rt.clock.now(),
        )  # fmt: skip
        order = await s.get(Order, inserted.id)
    assert order is not None
    return order


def lines_by_name(order: Order) -> dict[str, Any]:
    return {line.name: line for line in order.lines}
