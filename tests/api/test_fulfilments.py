"""Shipping an order: partial shipments then the rest, never more than is left to ship
(even when two staff ship at once), a tracking link for known carriers, and the
customer's "on its way" e-mail listing what is in this parcel."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from tests import factories
from tests.order_support import gateway_of, order_of
from tests.support import Api, error_code
from tillpoint.orders.service import order_access_token
from tillpoint.outbox.models import OutboxMessage
from tillpoint.runtime import Runtime


async def _two_line_order(admin_api: Api, rt: Runtime) -> tuple[str, list[dict[str, Any]]]:
    tea = await factories.product(rt, price=1500, sku="TEA-1", name="Green tea")
    mug = await factories.product(rt, price=900, sku="MUG-1", name="Blue mug")
    order = await order_of(rt, gateway_of(admin_api), [(tea, 3), (mug, 1)])
    lines = (await admin_api.get(f"/api/admin/orders/{order.id}")).json()["lines"]
    return order.id, lines


async def _shipped_mails(rt: Runtime) -> list[OutboxMessage]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "order_shipped")
            .order_by(OutboxMessage.created_at)
        )
        return list(rows)


async def test_ship_part_then_the_rest(admin_api: Api, rt: Runtime) -> None:
    order_id, (tea, mug) = await _two_line_order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/fulfillments"
    first = await admin_api.post(url, json={
        "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
        "lines": [{"line_id": tea["id"], "quantity": 2}],
    })  # fmt: skip
    assert first.status_code == 201, first.text
    assert first.headers["Cache-Control"] == "no-store"
    shipment = first.json()["fulfillment"]
    assert shipment["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    assert shipment["lines"] == [{"line_id": tea["id"], "quantity": 2}]
    order = first.json()["order"]
    assert order["fulfillment_status"] == "partially_fulfilled"
    assert [ln["shipped"] for ln in order["lines"]] == [2, 0]
    rest = await admin_api.post(url, json={"carrier": "usps", "tracking_number": "9400 1"})
    assert rest.status_code == 201, rest.text
    assert rest.json()["fulfillment"]["lines"] == [
        {"line_id": tea["id"], "quantity": 1}, {"line_id": mug["id"], "quantity": 1},
    ]  # fmt: skip
    assert rest.json()["fulfillment"]["tracking_url"] == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400%201"
    )
    assert rest.json()["order"]["fulfillment_status"] == "fulfilled"
    done = await admin_api.post(url, json={"carrier": "UPS", "tracking_number": "again"})
    assert done.status_code == 409 and error_code(done) == "nothing_to_ship"
    first_mail, second_mail = await _shipped_mails(rt)
    text = first_mail.payload["text"]
    assert "2 \u00d7 Green tea" in text and "Blue mug" not in text
    assert "1Z999AA10123456784" in text and "https://www.ups.com/track?tracknum=" in text
    assert (
        'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"'
        in (first_mail.payload["html"])
    )
    assert first_mail.recipient == "buyer@example.com"
    assert "1 \u00d7 Green tea" in second_mail.payload["text"]
    assert "1 \u00d7 Blue mug" in second_mail.payload["text"]


async def test_over_shipping_is_422_with_the_line_path_and_changes_nothing(
    admin_api: Api, rt: Runtime
) -> None:
    order_id, (tea, mug) = await _two_line_order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/fulfillments"
    r = await admin_api.post(url, json={
        "carrier": "UPS", "tracking_number": "1Z1",
        "lines": [{"line_id": mug["id"], "quantity": 1}, {"line_id": tea["id"], "quantity": 4}],
    })  # fmt: skip
    assert r.status_code == 422 and error_code(r) == "fulfillment_exceeds_unshipped"
    assert [f["path"] for f in r.json()["error"]["fields"]] == [["lines", 1, "quantity"]]
    unknown = await admin_api.post(url, json={
        "carrier": "UPS", "tracking_number": "1Z1",
        "lines": [{"line_id": "ol_" + "0" * 22, "quantity": 1}],
    })  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"][0]["path"] == ["lines", 0, "line_id"]
    for bad in ({"carrier": "UPS"}, {"carrier": "", "tracking_number": "1"},
                {"carrier": "UPS", "tracking_number": "1", "lines": []}):  # fmt: skip
        assert (await admin_api.post(url, json=bad)).status_code == 422
    body = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    assert body["fulfillments"] == [] and body["fulfillment_status"] == "unfulfilled"
    assert await _shipped_mails(rt) == []


async def test_restocked_units_do_not_ship(admin_api: Api, rt: Runtime) -> None:
    order_id, (tea, _) = await _two_line_order(admin_api, rt)
    r = await admin_api.post(f"/api/admin/orders/{order_id}/refunds", json={
        "lines": [{"line_id": tea["id"], "quantity": 2, "restock": True}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    over = await admin_api.post(f"/api/admin/orders/{order_id}/fulfillments", json={
        "carrier": "UPS", "tracking_number": "1",
        "lines": [{"line_id": tea["id"], "quantity": 2}],
    })  # fmt: skip
    assert over.status_code == 422
    rest = await admin_api.post(
        f"/api/admin/orders/{order_id}/fulfillments",
        json={"carrier": "UPS", "tracking_number": "1"},
    )
    assert [ln["shipped"] for ln in rest.json()["order"]["lines"]] == [1, 1]
    assert rest.json()["order"]["fulfillment_status"] == "fulfilled"


async def test_two_shipments_at_once_never_ship_a_unit_twice(admin_api: Api, rt: Runtime) -> None:
    order_id, _ = await _two_line_order(admin_api, rt)
    url = f"/api/admin/orders/{order_id}/fulfillments"
    answers = await asyncio.gather(
        *(
            admin_api.post(url, json={"carrier": "UPS", "tracking_number": f"T{i}"})
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    body = (await admin_api.get(f"/api/admin/orders/{order_id}")).json()
    assert [ln["shipped"] for ln in body["lines"]] == [3, 1]
    assert len(body["fulfillments"]) == 1 and len(await _shipped_mails(rt)) == 1


async def test_the_customer_sees_shipments_with_tracking(
    admin_api: Api, new_api: Any, rt: Runtime
) -> None:
    order_id, (tea, _) = await _two_line_order(admin_api, rt)
    await admin_api.post(f"/api/admin/orders/{order_id}/fulfillments", json={
        "carrier": "FedEx", "tracking_number": "7712",
        "lines": [{"line_id": tea["id"], "quantity": 3}],
    })  # fmt: skip
    shopper: Api = await new_api()
    token = order_access_token(rt.settings, order_id)
    body = (await shopper.get(f"/api/orders/{order_id}", params={"token": token})).json()
    assert body["fulfillment_status"] == "partially_fulfilled"
    [f] = body["fulfillments"]
    assert f["tracking_url"] == "https://www.fedex.com/fedextrack/?trknbr=7712"
    assert body["display"]["fulfillment"] == "Partly shipped"
    [shown] = body["display"]["fulfillments"]
    assert shown["text"] == "Shipped with FedEx: 3 \u00d7 Green tea"


async def test_shipping_needs_the_admin_role(user_api: Api, admin_api: Api, rt: Runtime) -> None:
    order_id, _ = await _two_line_order(admin_api, rt)
    r = await user_api.post(
        f"/api/admin/orders/{order_id}/fulfillments",
        json={"carrier": "UPS", "tracking_number": "1"},
    )
    assert r.status_code == 403 and error_code(r) == "admin_required"
