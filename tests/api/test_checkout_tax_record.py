"""A guest checkout priced by TaxJar (the loopback of tests/integration/test_tax_taxjar.py)
through to the paid order, whose sale the sweeper then records with the tax the shopper
paid and the product's tax category; a TaxJar outage after payment changes nothing for
the shopper (the record waits for the next sweep)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.integration.test_tax_taxjar import TOKEN, TaxJar
from tests.support import Api
from tests.tax_loopback import Loopback, serve
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime
from tillpoint.sweeper import JOBS


@pytest.fixture
async def taxjar() -> AsyncIterator[Loopback]:
    api = TaxJar()
    async with serve(
        [
            ("taxes", "POST", "/v2/taxes", api.taxes),
            ("orders", "POST", "/v2/transactions/orders", api.create_order),
        ]
    ) as box:
        yield box


@pytest.fixture
def settings_overrides(taxjar: Loopback) -> dict[str, Any]:
    return {
        "payment_gateway": "sandbox", "tax_provider": "taxjar",
        "tax_taxjar_api_token": TOKEN, "tax_taxjar_endpoint": taxjar.base,
    }  # fmt: skip


async def test_paid_checkout_is_recorded_at_taxjar_with_what_the_shopper_paid(
    api: Api, rt: Runtime, taxjar: Loopback, clock: Any
) -> None:
    p = await factories.product(rt, price=2000, weight_grams=400, tax_category="reduced")
    assert (await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})).is_success
    cid = (await start(api))["id"]
    body = await to_state(api, cid, "order_review")
    totals = body["context"]["totals"]
    assert totals["lines"][0]["tax"] == 355  # 40.00 * 8.875 %, from TaxJar
    quotes = taxjar.calls("POST /v2/taxes")
    assert quotes and quotes[-1].body["line_items"][0]["product_tax_code"] == "40030"
    taxjar.script("orders", 503, "<html>down</html>")  # TaxJar down once the order is paid
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    done = (await api.post("/api/payment/confirm", json={"checkout_id": cid})).json()
    assert done["state"] == "order_confirmation"
    assert await JOBS["tax_transactions"](rt) == 0  # not recorded yet; the order stands
    clock.advance(minutes=1)
    assert await JOBS["tax_transactions"](rt) == 1
    async with rt.db.transaction() as s:
        order = (await s.scalars(select(Order))).one()
    assert order.status == "paid"
    recorded = taxjar.calls("POST /v2/transactions/orders")[-1].body
    assert recorded["transaction_id"] == order.number
    assert (
        recorded["sales_tax"]
        == Decimal(order.tax_total).scaleb(-2)
        == Decimal(totals["tax"]).scaleb(-2)
    )
    assert recorded["shipping"] == Decimal(totals["shipping"]).scaleb(-2)
    (line,) = recorded["line_items"]
    assert line["product_tax_code"] == "40030" and line["sales_tax"] == Decimal("3.55")
    assert line["quantity"] == 2 and line["product_identifier"] == p.sku
