"""What one session or customer may hold through ``POST /api/inventory/reservations``:
at most 10 units of a SKU and 50 in all (settings), so one caller cannot lock every
other buyer out of a product; a refused hold takes nothing and is audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_checkout import send, start, to_state
from tests.inventory_support import level, stocked
from tests.support import Api, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime


async def _in_cart(api: Api, rt: Runtime, on_hand: int, qty: int) -> Any:
    p = await stocked(rt, on_hand, price=1500, weight_grams=300)
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": qty})
    assert r.status_code == 200, r.text
    return p


async def _cap_rows(rt: Runtime) -> list[AuditLog]:
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(AuditLog).where(AuditLog.event_type == "reservation_cap_reached")
        )
        return list(rows.all())


async def test_one_session_cannot_hold_a_whole_sku(api: Api, new_api: Any, rt: Runtime) -> None:
    p = await _in_cart(api, rt, on_hand=20, qty=20)
    r = await api.post("/api/inventory/reservations")
    assert r.status_code == 409 and error_code(r) == "reservation_cap_reached", r.text
    details = r.json()["error"]["details"]
    assert details["max_per_sku"] == 10 and details["max_units"] == 50
    assert details["items"] == [
        {"product_id": p.id, "variant_id": None, "sku": p.sku, "requested": 20, "max": 10}
    ]
    assert (await level(rt, p.id)).reserved == 0  # nothing taken
    rows = await _cap_rows(rt)
    assert len(rows) == 1 and rows[0].entity_id == api.session["cart_id"]
    assert rows[0].meta["items"][0]["requested"] == 20 and rows[0].session_id
    # Another buyer is not locked out.
    other: Api = await new_api()
    await other.post("/api/cart/items", json={"product_id": p.id, "quantity": 3})
    assert (await other.post("/api/inventory/reservations")).status_code == 201


async def test_a_hold_within_the_cap_is_made(api: Api, rt: Runtime) -> None:
    p = await _in_cart(api, rt, on_hand=20, qty=10)
    r = await api.post("/api/inventory/reservations")
    assert r.status_code == 201, r.text
    assert (await level(rt, p.id)).reserved == 10
    assert await _cap_rows(rt) == []


async def test_the_total_a_session_holds_is_capped_too(api: Api, rt: Runtime) -> None:
    for _ in range(6):
        await _in_cart(api, rt, on_hand=20, qty=9)  # 54 units, none over 10 of a SKU
    r = await api.post("/api/inventory/reservations")
    assert r.status_code == 409 and error_code(r) == "reservation_cap_reached"
    assert r.json()["error"]["details"]["units"] == 54


@pytest.mark.parametrize("settings_overrides", [{"inventory_hold_max_per_sku": 2}])
async def test_the_cap_is_a_setting(api: Api, rt: Runtime, settings_overrides: Any) -> None:
    await _in_cart(api, rt, on_hand=20, qty=3)
    r = await api.post("/api/inventory/reservations")
    assert r.status_code == 409 and r.json()["error"]["details"]["max_per_sku"] == 2


async def test_a_logged_in_customer_is_capped_like_a_guest(user_api: Api, rt: Runtime) -> None:
    await _in_cart(user_api, rt, on_hand=30, qty=11)
    r = await user_api.post("/api/inventory/reservations")
    assert r.status_code == 409 and error_code(r) == "reservation_cap_reached"
    assert (await _cap_rows(rt))[0].user_id is not None


async def test_checkout_reserves_what_the_customer_buys_within_the_cap(
    api: Api, rt: Runtime
) -> None:
    p = await _in_cart(api, rt, on_hand=20, qty=10)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200, r.text
    assert (await level(rt, p.id)).reserved == 10


async def test_a_checkout_cannot_hold_a_whole_sku_either(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    """CONFIRM_ORDER holds the stock until the payment ends (3-D Secure left pending: the
    whole TTL): the same cap as a hold, or one session locks every other buyer out."""
    p = await _in_cart(api, rt, on_hand=20, qty=20)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and error_code(r) == "reservation_cap_reached", r.text
    assert r.json()["error"]["details"]["items"][0]["requested"] == 20
    assert (await level(rt, p.id)).reserved == 0
    other: Api = await new_api()
    await other.post("/api/cart/items", json={"product_id": p.id, "quantity": 3})
    assert (await other.post("/api/inventory/reservations")).status_code == 201
