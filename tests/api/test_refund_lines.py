"""Refunds that mean what they say: by line (each line's share, restocking exactly the
units named), by amount (restocking nothing, and saying so), the old ``restock`` flag's
meaning, cancelling an unshipped order, and concurrent refunds that cannot over-refund
or over-restock."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from tests.inventory_support import level, stocked
from tests.order_support import gateway_of, order_of
from tests.support import Api, error_code
from tillpoint.catalog.models import Product
from tillpoint.orders.models import Order
from tillpoint.orders.service import order_access_token
from tillpoint.outbox.models import OutboxMessage
from tillpoint.runtime import Runtime


async def _order(admin_api: Api, rt: Runtime) -> tuple[str, Product, Product, list[Any]]:
    """An order of 3 teas (1500 each) and 2 mugs (900 each), both stocked at 10."""
    tea = await stocked(rt, 10, price=1500, sku="TEA-1", name="Green tea")
    mug = await stocked(rt, 10, price=900, sku="MUG-1", name="Blue mug")
    order = await order_of(rt, gateway_of(admin_api), [(tea, 3), (mug, 2)])
    lines = (await admin_api.get(f"/api/admin/orders/{order.id}")).json()["lines"]
    return order.id, tea, mug, lines


async def _on_hand(rt: Runtime, *products: Product) -> list[int]:
    return [(await level(rt, p.id)).on_hand for p in products]


async def test_one_line_refunded_and_restocked_raises_stock_by_exactly_that(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, tea, mug, (tea_line, _) = await _order(admin_api, rt)
    r = await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={
        "reason": "Changed mind",
        "lines": [{"line_id": tea_line["id"], "quantity": 2, "restock": True}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["refund"]["amount"] == 3000
    assert body["refund"]["allocation"] == {tea_line["id"]: 3000}
    assert body["refund"]["restocked"] == [
        {"line_id": tea_line["id"], "sku": "TEA-1", "quantity": 2}
    ]
    assert "Restocked: 2 \u00d7 TEA-1" in body["message"]
    assert await _on_hand(rt, tea, mug) == [12, 10]
    [line, _] = body["order"]["lines"]
    assert (line["refunded"], line["refunded_quantity"], line["restocked"]) == (3000, 2, 2)
    again = await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={
        "lines": [{"line_id": tea_line["id"], "quantity": 2, "restock": True}],
    })  # fmt: skip
    assert again.status_code == 422
    assert again.json()["error"]["fields"][0]["path"] == ["lines", 0, "quantity"]
    assert await _on_hand(rt, tea, mug) == [12, 10]


async def test_an_amount_alone_restocks_nothing_and_says_so(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, _ = await _order(admin_api, rt)
    r = await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={"amount": 3000})
    assert r.status_code == 201, r.text
    assert r.json()["refund"]["restocked"] == []
    assert "Nothing was restocked" in r.json()["message"]
    assert await _on_hand(rt, tea, mug) == [10, 10]


async def test_the_old_restock_flag(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, (tea_line, _) = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/refunds"
    partial = await admin_api.post(url, json={"amount": 3000, "restock": True})
    assert partial.status_code == 422 and error_code(partial) == "restock_needs_lines"
    mixed = await admin_api.post(url, json={
        "restock": True, "lines": [{"line_id": tea_line["id"], "quantity": 1}],
    })  # fmt: skip
    assert mixed.status_code == 422 and error_code(mixed) == "restock_needs_lines"
    ship = await admin_api.post(f"/api/admin/orders/{order_id}/fulfillments", json={
        "carrier": "UPS", "tracking_number": "1",
        "lines": [{"line_id": tea_line["id"], "quantity": 1}],
    })  # fmt: skip
    assert ship.status_code == 201
    full = await admin_api.post(url, json={"restock": True})
    assert full.status_code == 201, full.text
    # Everything left refunded; the units not shipped restocked (the shipped tea is not).
    assert full.json()["order"]["payment_status"] == "refunded"
    assert await _on_hand(rt, tea, mug) == [12, 12]
    assert full.json()["order"]["fulfillment_status"] == "fulfilled"


async def test_a_shipped_unit_comes_back_only_when_a_line_says_restock(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, tea, _, (tea_line, _) = await _order(admin_api, rt)
    ship = await admin_api.post(
        f"/api/admin/orders/{order_id}/fulfillments",
        json={"carrier": "UPS", "tracking_number": "1"},
    )
    assert ship.status_code == 201
    url = f"/api/admin/orders/{order_id}/refunds"
    lost = await admin_api.post(url, json={"lines": [{"line_id": tea_line["id"], "quantity": 1}]})
    assert lost.status_code == 201 and await _on_hand(rt, tea) == [10]
    returned = await admin_api.post(url, json={
        "lines": [{"line_id": tea_line["id"], "quantity": 1, "restock": True}],
    })  # fmt: skip
    assert returned.status_code == 201 and await _on_hand(rt, tea) == [11]
    assert returned.json()["order"]["lines"][0]["shipped"] == 3


async def test_a_refund_email_lists_its_lines(admin_api: Api, rt: Runtime) -> None:
    order_id, _, _, (_, mug_line) = await _order(admin_api, rt)
    r = await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={
        "lines": [{"line_id": mug_line["id"], "quantity": 1, "restock": True}],
    })  # fmt: skip
    assert r.status_code == 201
    async with rt.db.transaction() as s:
        [mail] = await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund_issued"))
    assert "$9.00" in mail.payload["text"] and "1 \u00d7 Blue mug" in mail.payload["text"]
    assert "1 \u00d7 Blue mug" in mail.payload["html"]


async def test_the_customer_reads_the_refund_in_words(
    admin_api: Api, new_api: Any, rt: Runtime
) -> None:
    order_id, _, _, (_, mug_line) = await _order(admin_api, rt)
    await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={
        "reason": "Chipped", "lines": [{"line_id": mug_line["id"], "quantity": 1, "restock": True}],
    })  # fmt: skip
    shopper: Api = await new_api()
    token = order_access_token(rt.settings, order_id)
    body = (await shopper.get(f"/api/orders/{order_id}", params={"token": token})).json()
    [shown] = body["display"]["refunds"]
    assert shown["text"] == "Refunded: $9.00 (Chipped); taken back: 1 \u00d7 Blue mug"
    assert body["refunds"][0]["restocked"][0]["quantity"] == 1


async def test_cancel_refunds_everything_and_restocks_every_unit(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, tea, mug, (tea_line, _) = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}"
    part = await admin_api.post(f"{url}/refunds", json={
        "lines": [{"line_id": tea_line["id"], "quantity": 1, "restock": True}],
    })  # fmt: skip
    assert part.status_code == 201 and await _on_hand(rt, tea, mug) == [11, 10]
    r = await admin_api.post(f"{url}/cancel", json={"reason": "Customer asked"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refund"]["amount"] == 2 * 1500 + 2 * 900 + 500
    assert sorted((x["sku"], x["quantity"]) for x in body["refund"]["restocked"]) == [
        ("MUG-1", 2), ("TEA-1", 2),
    ]  # fmt: skip
    order = body["order"]
    assert order["status"] == "cancelled" and order["fulfillment_status"] == "cancelled"
    assert order["payment_status"] == "refunded" and order["cancelled_at"]
    assert await _on_hand(rt, tea, mug) == [13, 12]  # exactly the units ordered
    assert [h["action"] for h in order["history"]][-1] == "order_cancelled"
    again = await admin_api.post(f"{url}/cancel", json={})
    assert again.status_code == 409 and error_code(again) == "order_already_cancelled"
    ship = await admin_api.post(
        f"{url}/fulfillments", json={"carrier": "UPS", "tracking_number": "1"}
    )
    assert ship.status_code == 409 and error_code(ship) == "order_cancelled"
    assert await _on_hand(rt, tea, mug) == [13, 12]
    listed = await admin_api.get("/api/admin/orders", params={"status": "cancelled"})
    assert [o["id"] for o in listed.json()["items"]] == [order_id]


async def test_a_shipped_order_cannot_be_cancelled(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, (_, mug_line) = await _order(admin_api, rt)
    await admin_api.post(f"/api/admin/orders/{order_id}/fulfillments", json={
        "carrier": "UPS", "tracking_number": "1",
        "lines": [{"line_id": mug_line["id"], "quantity": 1}],
    })  # fmt: skip
    r = await admin_api.post(f"/api/admin/orders/{order_id}/cancel", json={})
    assert r.status_code == 409 and error_code(r) == "order_already_shipped"
    body = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    assert body["cancelled_at"] is None and body["totals"]["refunded"] == 0
    assert await _on_hand(rt, tea, mug) == [10, 10]


async def test_concurrent_line_refunds_never_over_refund_or_over_restock(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, tea, _, (tea_line, _) = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/refunds"
    body = {"lines": [{"line_id": tea_line["id"], "quantity": 2, "restock": True}]}
    answers = await asyncio.gather(*(admin_api.post(url, json=body) for _ in range(3)))
    assert sorted(r.status_code for r in answers) == [201, 422, 422]
    assert await _on_hand(rt, tea) == [12]
    order = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    assert order["totals"]["refunded"] == 3000 and len(order["refunds"]) == 1


async def test_cancel_and_ship_at_once_do_not_both_happen(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, _ = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}"
    cancel, ship = await asyncio.gather(
        admin_api.post(f"{url}/cancel", json={}),
        admin_api.post(f"{url}/fulfillments", json={"carrier": "UPS", "tracking_number": "1"}),
    )
    assert sorted([cancel.status_code, ship.status_code]) in ([200, 409], [201, 409])
    order = (await admin_api.get(url)).json()
    if cancel.status_code == 200:
        assert order["fulfillments"] == [] and await _on_hand(rt, tea, mug) == [13, 12]
    else:
        assert order["cancelled_at"] is None and await _on_hand(rt, tea, mug) == [10, 10]


async def test_cancel_of_a_refunded_order_only_restocks(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, _ = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}"
    assert (await admin_api.post(f"{url}/refunds", json={})).status_code == 201
    r = await admin_api.post(f"{url}/cancel", json={})
    assert r.status_code == 200, r.text
    assert r.json()["refund"] is None and r.json()["order"]["status"] == "cancelled"
    assert len(r.json()["order"]["refunds"]) == 1
    assert await _on_hand(rt, tea, mug) == [13, 12]


async def test_an_amount_with_lines_is_their_money_and_restocks_what_they_say(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, tea, mug, (tea_line, mug_line) = await _order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/refunds"
    lines = [
        {"line_id": tea_line["id"], "quantity": 1, "restock": True},
        {"line_id": mug_line["id"], "quantity": 1},
    ]
    too_much = await admin_api.post(url, json={"amount": 2401, "lines": lines})
    assert too_much.status_code == 422 and error_code(too_much) == "refund_exceeds_refundable"
    r = await admin_api.post(url, json={"amount": 1200, "lines": lines})  # a restocking fee kept
    assert r.status_code == 201, r.text
    assert r.json()["refund"]["allocation"] == {tea_line["id"]: 750, mug_line["id"]: 450}
    assert await _on_hand(rt, tea, mug) == [11, 10]


async def test_a_refused_cancel_leaves_the_order_as_it_was(admin_api: Api, rt: Runtime) -> None:
    order_id, tea, mug, _ = await _order(admin_api, rt)
    body = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    gateway = gateway_of(admin_api)
    async with rt.db.transaction() as s:
        intent_id = await s.scalar(select(Order.payment_intent_id).where(Order.id == order_id))
    # Refunded outside the shop: the gateway now refuses the cancel's refund.
    await gateway.refund(intent_id, idempotency_key="outside", amount=body["totals"]["total"])
    r = await admin_api.post(f"/api/admin/orders/{order_id}/cancel", json={})
    assert r.status_code == 502 and error_code(r) == "amount_too_large", r.text
    after = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    assert after["cancelled_at"] is None and after["fulfillment_status"] == "unfulfilled"
    assert after["refunds"] == [] and after["totals"]["refunded"] == 0
    assert [ln["restocked"] for ln in after["lines"]] == [0, 0]
    assert await _on_hand(rt, tea, mug) == [10, 10]
    ship = await admin_api.post(
        f"/api/admin/orders/{order_id}/fulfillments",
        json={"carrier": "UPS", "tracking_number": "1"},
    )
    assert ship.status_code == 201  # still an open order
