"""Staff's orders: the filtered, searchable list with a cursor that stays put when orders
arrive, today's numbers, one order's whole story, and who may read them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests import factories
from tests.order_support import gateway_of, order_of
from tests.payment_support import paid_order
from tests.support import Api, error_code
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime


async def _orders(admin_api: Api, rt: Runtime, clock: Any, emails: list[str]) -> list[Any]:
    made = []
    for email in emails:
        made.append(await paid_order(rt, gateway_of(admin_api), email=email))
        clock.advance(seconds=1)
    return made


async def test_the_list_pages_newest_first_and_stays_put_when_orders_arrive(
    admin_api: Api, rt: Runtime, clock: Any
) -> None:
    made = await _orders(admin_api, rt, clock, [f"b{i}@example.com" for i in range(5)])
    first = await admin_api.get("/api/admin/orders", params={"limit": 2})
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    page = first.json()
    assert [o["id"] for o in page["items"]] == [made[4].id, made[3].id]
    await _orders(admin_api, rt, clock, ["late@example.com"])  # arrives between pages
    rest = (await admin_api.get("/api/admin/orders", params={"cursor": page["next_cursor"]})).json()
    assert [o["id"] for o in rest["items"]] == [made[2].id, made[1].id, made[0].id]
    assert rest["next_cursor"] is None
    item = page["items"][0]
    assert item == {
        "id": made[4].id, "number": made[4].number, "status": "paid",
        "payment_status": "paid", "fulfillment_status": "unfulfilled",
        "email": "b4@example.com", "currency": "USD", "total": 8316, "refunded": 0,
        "item_count": 3, "created_at": item["created_at"],
    }  # fmt: skip


async def test_filters_and_search(admin_api: Api, rt: Runtime, clock: Any) -> None:
    a, b, c = await _orders(
        admin_api, rt, clock, ["Ada@Example.com", "bob@example.com", "ada.l@shop.test"]
    )
    r = await admin_api.post(f"/api/admin/orders/{b.id}/refunds", json={"amount": 100})
    assert r.status_code == 201, r.text
    ship = await admin_api.post(
        f"/api/admin/orders/{c.id}/fulfillments", json={"carrier": "UPS", "tracking_number": "1Z1"}
    )
    assert ship.status_code == 201, ship.text

    async def ids(**params: Any) -> list[str]:
        got = await admin_api.get("/api/admin/orders", params=params)
        assert got.status_code == 200, got.text
        return [o["id"] for o in got.json()["items"]]

    assert await ids(q="ADA") == [c.id, a.id]  # e-mail prefix, any case
    assert await ids(q=a.number[:-2].lower()) == [
        o.id for o in (c, b, a) if o.number.startswith(a.number[:-2])
    ]
    assert await ids(q=b.number) == [b.id]
    assert await ids(q="%") == []  # a wildcard is a character, not a pattern
    assert await ids(email="ada@example.COM") == [a.id]
    assert await ids(number=c.number) == [c.id]
    assert await ids(payment_status="partially_refunded") == [b.id]
    assert await ids(status="paid") == [c.id, a.id]
    assert await ids(fulfillment_status="fulfilled") == [c.id]
    assert await ids(fulfillment_status="unfulfilled") == [b.id, a.id]
    since = (await admin_api.get(f"/api/admin/orders/{b.id}")).json()["created_at"]
    assert await ids(created_from=since) == [c.id, b.id]
    assert await ids(created_to=since) == [a.id]
    bad = await admin_api.get("/api/admin/orders", params={"fulfillment_status": "lost"})
    assert bad.status_code == 422
    assert (await admin_api.get("/api/admin/orders", params={"cursor": "x"})).status_code == 422


async def test_one_order_tells_its_whole_story(admin_api: Api, rt: Runtime) -> None:
    tea = await factories.product(rt, price=1500, sku="TEA-1", name="Green tea")
    order = await order_of(rt, gateway_of(admin_api), [(tea, 3)])
    url = f"/api/admin/orders/{order.id}"
    [line] = (await admin_api.get(url)).json()["lines"]
    refund = await admin_api.post(
        f"{url}/refunds", json={"lines": [{"line_id": line["id"], "quantity": 1}]}
    )
    assert refund.status_code == 201, refund.text
    ship = await admin_api.post(
        f"{url}/fulfillments", json={"carrier": "DHL", "tracking_number": "JD0001"}
    )
    assert ship.status_code == 201, ship.text
    got = await admin_api.get(url)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    body = got.json()
    assert body["payment_status"] == "partially_refunded" and body["status"] == "partially_refunded"
    assert body["fulfillment_status"] == "fulfilled" and body["cancelled_at"] is None
    [line] = body["lines"]
    assert line["id"].startswith("ol_") and line["sku"] == "TEA-1"
    assert (line["quantity"], line["shipped"], line["restocked"], line["refunded"]) == (
        3, 3, 0, 1500,
    )  # fmt: skip
    assert body["payment"]["card_last4"] == "4242"
    [r] = body["refunds"]
    assert r["amount"] == 1500 and r["restocked"] == []
    [f] = body["fulfillments"]
    assert f["carrier"] == "DHL" and f["lines"] == [{"line_id": line["id"], "quantity": 3}]
    assert (
        f["tracking_url"] == "https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD0001"
    )
    actions = [h["action"] for h in body["history"]]
    assert actions == ["refund_created", "order_fulfilled"]
    assert body["history"][0]["summary"] == "Refunded $15.00"  # money in words, not cents
    assert body["history"][1]["summary"] == "Shipped with DHL, tracking JD0001"
    assert all(h["actor"] for h in body["history"])  # the admin who did it


async def test_unknown_or_malformed_order_is_404(admin_api: Api) -> None:
    missing = await admin_api.get("/api/admin/orders/ord_" + "0" * 22)
    assert missing.status_code == 404 and error_code(missing) == "order_not_found"
    assert (await admin_api.get("/api/admin/orders/nope")).status_code == 404


@pytest.mark.parametrize(
    "path", ["/api/admin/orders", "/api/admin/orders/stats", "/api/admin/orders/ord_" + "0" * 22]
)
async def test_only_admins_read_orders(path: str, user_api: Api, new_api: Any, rt: Runtime) -> None:
    forbidden = await user_api.get(path)
    assert forbidden.status_code == 403 and error_code(forbidden) == "admin_required"
    anonymous: Api = await new_api()
    assert (await anonymous.get(path)).status_code == 401


async def test_stats_count_today_and_what_waits_to_ship(
    admin_api: Api, rt: Runtime, clock: Any
) -> None:
    old = await paid_order(rt, gateway_of(admin_api))
    async with rt.db.transaction() as s:  # placed yesterday (UTC)
        row = await s.get(Order, old.id)
        assert row is not None
        row.created_at = row.created_at - timedelta(days=1)
    shipped, refunded, _ = await _orders(
        admin_api, rt, clock, ["a@example.com", "b@example.com", "c@example.com"]
    )
    ship = await admin_api.post(
        f"/api/admin/orders/{shipped.id}/fulfillments",
        json={"carrier": "Local courier", "tracking_number": "X-1"},
    )
    assert ship.status_code == 201 and ship.json()["fulfillment"]["tracking_url"] is None
    r = await admin_api.post(f"/api/admin/orders/{refunded.id}/refunds", json={})
    assert r.status_code == 201
    stats = await admin_api.get("/api/admin/orders/stats")
    assert stats.status_code == 200 and stats.headers["Cache-Control"] == "no-store"
    assert stats.json() == {
        "today": {"orders": 3, "revenue": [{"currency": "USD", "amount": 2 * 8316}]},
        "awaiting_fulfillment": 2,  # the one from yesterday and the untouched one
    }
