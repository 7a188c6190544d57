"""Stock through the checkout: checked at every step, reserved at CONFIRM_ORDER, extended
while 3-D Secure is pending, released on expiry, fulfilled by the order flow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.test_checkout import CARD, GUEST, NY, send, start, to_state
from tests.inventory_support import level, stocked
from tests.support import Api, MovableClock, error_code
from tillpoint.checkout import service
from tillpoint.checkout.machine import Event
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.models import InventoryReservation
from tillpoint.inventory.reservations import fulfill_reservation, get_reservation
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep


async def stocked_cart(api: Api, rt: Runtime, on_hand: int, qty: int) -> Any:
    p = await stocked(rt, on_hand, weight_grams=400, price=2000)
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": qty})
    assert r.status_code == 200, r.text
    return p


async def test_confirm_order_reserves_and_the_cart_still_looks_in_stock(
    api: Api, rt: Runtime
) -> None:
    p = await stocked_cart(api, rt, on_hand=2, qty=2)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200, r.text
    held = r.json()["context"]
    assert r.json()["state"] == "payment_processing"
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (2, 2)
    # The customer's own reservation does not make their cart or checkout look sold out.
    cart = (await api.get("/api/cart")).json()
    assert cart["items"][0]["in_stock"] and cart["items"][0]["available_quantity"] == 2
    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["context"]["errors"] == []
    async with rt.db.transaction() as s:
        holds = list(
            await s.scalars(
                select(InventoryReservation).where(InventoryReservation.reference == cart["id"])
            )
        )
    assert [(h.id.startswith(cid), h.status) for h in holds] == [(True, "active")]
    assert held is not None


async def test_out_of_stock_is_reported_at_each_step_and_blocks_confirmation(
    api: Api, rt: Runtime
) -> None:
    p = await stocked_cart(api, rt, on_hand=3, qty=2)
    cid = (await start(api))["id"]
    r = await send(api, cid, "SELECT_GUEST")
    assert r.json()["context"]["errors"] == []
    await adjust_stock(rt, p.id, on_hand=1, reason="breakage")
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **GUEST)
    assert r.status_code == 200  # other steps go on, with the problem shown
    body = r.json()
    assert [e["code"] for e in body["context"]["errors"]] == ["out_of_stock"]
    assert body["context"]["errors"][0]["path"] == ["cart", "items", 0]
    r = await send(api, cid, "SUBMIT_SHIPPING", address=NY)
    assert [e["code"] for e in r.json()["context"]["errors"]] == ["out_of_stock"]
    await send(api, cid, "USE_SHIPPING_ADDRESS")
    options = (await api.get(f"/api/checkout/{cid}/shipping-options")).json()["items"]
    await send(api, cid, "SELECT_SHIPPING", shipping_method_id=options[0]["id"])
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    assert r.json()["state"] == "order_review"
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 422 and error_code(r) == "cart_invalid"
    assert r.json()["error"]["fields"][0]["code"] == "out_of_stock"
    assert (await level(rt, p.id)).reserved == 0
    # Stock back: confirmation goes through and reserves.
    await adjust_stock(rt, p.id, on_hand=5, reason="delivery")
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200 and r.json()["state"] == "payment_processing"
    assert (await level(rt, p.id)).reserved == 2


async def test_starting_checkout_with_an_out_of_stock_cart_is_refused(
    api: Api, rt: Runtime
) -> None:
    p = await stocked_cart(api, rt, on_hand=2, qty=2)
    await adjust_stock(rt, p.id, on_hand=0, reason="stolen")
    r = await api.post("/api/checkout")
    assert r.status_code == 422 and error_code(r) == "cart_invalid"
    assert r.json()["error"]["fields"][0]["code"] == "out_of_stock"


async def test_requires_action_extends_and_success_then_fulfill_takes_stock(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    p = await stocked_cart(api, rt, on_hand=5, qty=2)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    clock.advance(minutes=10)
    view = await service.apply_server_event(rt, cid, Event.PAYMENT_REQUIRES_ACTION)
    held = view.context.reservation
    assert held is not None and held.id is not None
    res = await get_reservation(rt, held.id)
    assert (res.expires_at - clock.now()).total_seconds() == 15 * 60
    view = await service.apply_server_event(rt, cid, Event.ACTION_COMPLETED)
    view = await service.apply_server_event(rt, cid, Event.PAYMENT_SUCCESS)
    assert view.state.value == "payment_success"
    # What the order flow does inside its transaction:
    async with rt.db.transaction() as s:
        await fulfill_reservation(rt, s, held.id)
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (3, 0)


async def test_expired_checkout_after_a_failed_payment_releases_its_stock(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    p = await stocked_cart(api, rt, on_hand=2, qty=2)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    assert (await send(api, cid, "CONFIRM_ORDER")).status_code == 200
    assert (await level(rt, p.id)).reserved == 2
    # The payment fails and the customer walks away: the stock stays held until the
    # checkout expires (a retry may still come), then it is released at once.
    failed = await service.apply_server_event(rt, cid, Event.PAYMENT_FAILURE)
    assert failed.context.reservation is not None
    held = failed.context.reservation.id
    clock.advance(minutes=10)
    assert (await run_sweep(rt))["checkouts"] == 0
    assert (await level(rt, p.id)).reserved == 2
    clock.advance(minutes=21)
    swept = await run_sweep(rt)
    assert swept["checkouts"] == 1
    assert (await level(rt, p.id)).reserved == 0
    # Released by the checkout's EXPIRE (cancelled), not left to the reservation's TTL.
    assert (await get_reservation(rt, held)).status == "cancelled"
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "expired"
