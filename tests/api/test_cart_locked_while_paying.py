"""While a payment is in flight (CONFIRM_ORDER re-priced the cart and held its stock, the
gateway has not finished) the cart cannot change: every edit answers 409 ``cart_locked``
with the checkout's id, and the order gets exactly the lines that were paid for. Once
the payment fails, or its checkout is abandoned past its lifetime, edits work again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.api.test_checkout import NY, send, start, to_state
from tests.api.test_purchases import SANDBOX_SECRET, Pay, make_pay
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.localstripe_server import LocalStripe
from tests.stripe_fixtures import stripe_settings
from tests.support import Api, MovableClock, error_code
from tillpoint.cart.models import CartItem
from tillpoint.checkout import completion
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

EDITS = ["add", "update", "delete_line", "clear", "apply_coupon", "remove_coupon"]


@pytest.fixture(params=["sandbox", "stripe"])
def pay_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(pay_backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if pay_backend == "stripe":
        ls: LocalStripe = request.getfixturevalue("localstripe")
        return stripe_settings(ls.url)
    return {"sandbox_webhook_secret": SANDBOX_SECRET, "payment_gateway": "sandbox"}


@pytest.fixture
async def pay(api: Api, rt: Runtime, pay_backend: str, request: pytest.FixtureRequest) -> Pay:
    return await make_pay(api, rt, pay_backend, request)


async def _filled(api: Api, rt: Runtime) -> dict[str, Any]:
    """Two lines and a coupon (so every kind of edit has something to act on)."""
    for price in (2000, 1500):
        p = await factories.product(rt, price=price, weight_grams=400)
        r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
        assert r.status_code == 200, r.text
    await factories.coupon(rt, "TENOFF", value=1000)
    r = await api.post("/api/cart/coupons", json={"code": "TENOFF"})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _paying(pay: Pay, card: str | None = None) -> tuple[str, dict[str, Any]]:
    """A checkout of a filled cart, CONFIRM_ORDER sent: the payment is in flight."""
    cart = await _filled(pay.api, pay.rt)
    cid = str((await start(pay.api))["id"])
    await to_state(pay.api, cid, "payment_method")
    method = {"type": "card", "payment_method_id": card or pay.ok}
    assert (await send(pay.api, cid, "SELECT_PAYMENT", payment_method=method)).status_code == 200
    assert (await send(pay.api, cid, "CONFIRM_ORDER")).status_code == 200
    return cid, cart


async def _edit(api: Api, rt: Runtime, cart: dict[str, Any], edit: str) -> Any:
    line = cart["items"][0]["id"]
    if edit == "add":
        p = await factories.product(rt, price=700)
        return await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    if edit == "update":
        return await api.patch(f"/api/cart/items/{line}", json={"quantity": 5})
    if edit == "delete_line":
        return await api.delete(f"/api/cart/items/{line}")
    if edit == "clear":
        return await api.delete("/api/cart")
    if edit == "apply_coupon":
        await factories.coupon(rt, "FIVEOFF", type="fixed_amount", value=500, currency="USD")
        return await api.post("/api/cart/coupons", json={"code": "FIVEOFF"})
    return await api.delete(f"/api/cart/coupons/{cart['coupons'][0]['coupon_id']}")


def _assert_locked(r: Any, cid: str) -> None:
    assert r.status_code == 409 and error_code(r) == "cart_locked", r.text
    error = r.json()["error"]
    assert error["details"]["checkout_id"] == cid
    assert "payment" in error["message"] and "cart_locked" not in error["message"]


def _lines(cart: dict[str, Any]) -> Counter[tuple[str, int]]:
    return Counter((i["product_id"], i["quantity"]) for i in cart["items"])


async def _order_lines(rt: Runtime, cid: str) -> tuple[Counter[tuple[str, int]], Any]:
    async with rt.db.transaction() as s:
        order = await s.scalar(select(Order).where(Order.checkout_id == cid))
        assert order is not None
        in_cart = Counter(
            (i.product_id, i.quantity)
            for i in await s.scalars(select(CartItem).where(CartItem.cart_id == order.cart_id))
        )
        return Counter((line.product_id, line.quantity) for line in order.lines), in_cart


@pytest.mark.parametrize("edit", EDITS)
async def test_every_cart_edit_is_refused_while_the_payment_is_in_flight(
    pay: Pay, edit: str
) -> None:
    cid, before = await _paying(pay)
    _assert_locked(await _edit(pay.api, pay.rt, before, edit), cid)
    now = (await pay.api.get("/api/cart")).json()
    assert now["version"] == before["version"] and _lines(now) == _lines(before)
    assert now["coupons"] == before["coupons"]
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    paid, converted = await _order_lines(pay.rt, cid)
    assert paid == _lines(before) == converted  # nothing vanished with the order


async def test_edits_wait_out_three_d_secure_and_work_after_it_fails(pay: Pay) -> None:
    cid, cart = await _paying(pay, await pay.three_ds())
    assert (await pay.pay(cid))["state"] == "payment_requires_action"
    _assert_locked(await _edit(pay.api, pay.rt, cart, "add"), cid)
    assert (await pay.authenticate(cid, success=False))["state"] == "payment_failed"
    r = await _edit(pay.api, pay.rt, cart, "update")
    assert r.status_code == 200 and r.json()["items"][0]["quantity"] == 5, r.text


async def test_edits_work_again_after_a_declined_payment(pay: Pay) -> None:
    cid, cart = await _paying(pay, pay.decline)
    assert (await pay.pay(cid))["state"] == "payment_failed"
    for edit in ("add", "remove_coupon"):
        assert (await _edit(pay.api, pay.rt, cart, edit)).status_code == 200


async def test_a_paid_checkout_still_making_its_order_keeps_the_cart_locked(
    pay: Pay, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid, cart = await _paying(pay)
    real_insert = completion.insert_order_rows

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("process killed while finalizing")

    monkeypatch.setattr(completion, "insert_order_rows", crash)
    with pytest.raises(RuntimeError):
        await pay.api.post("/api/payment/confirm", json={"checkout_id": cid})
    assert (await pay.state(cid))["state"] == "payment_success"
    _assert_locked(await _edit(pay.api, pay.rt, cart, "delete_line"), cid)
    monkeypatch.setattr(completion, "insert_order_rows", real_insert)
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    paid, converted = await _order_lines(pay.rt, cid)
    assert paid == _lines(cart) == converted


async def test_a_payment_abandoned_past_the_checkout_lifetime_is_canceled_and_unlocks_the_cart(
    pay: Pay, clock: MovableClock
) -> None:
    cid, cart = await _paying(pay)  # the browser never came back to confirm
    intent_id = (await pay.state(cid))["context"]["payment"]["intent_id"]
    clock.advance(minutes=10)
    await run_sweep(pay.rt)
    assert (await pay.state(cid))["state"] == "payment_processing"  # still the customer's
    _assert_locked(await _edit(pay.api, pay.rt, cart, "add"), cid)
    clock.advance(seconds=pay.rt.settings.checkout_ttl_seconds)
    await run_sweep(pay.rt)
    await pay.settle()
    assert (await pay.state(cid))["state"] == "payment_failed"
    intent = await pay.gateway.retrieve_payment_intent(intent_id)
    assert intent.status.value == "canceled"  # it can never be charged later
    assert (await _edit(pay.api, pay.rt, cart, "add")).status_code == 200
    assert await pay.orders() == []


async def test_signing_in_while_paying_leaves_the_paid_cart_and_the_account_cart_alone(
    pay: Pay, new_api: Any
) -> None:
    from tillpoint.auth.service import create_user

    await create_user(pay.rt, email=USER_EMAIL, password=USER_PASSWORD)
    own = await new_api()
    assert (await own.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    mug = await factories.product(pay.rt, price=900)
    assert (await own.post("/api/cart/items", json={"product_id": mug.id})).status_code == 200
    cid, cart = await _paying(pay)
    # The guest signs in from another tab while the payment is in flight.
    assert (await pay.api.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    paid, converted = await _order_lines(pay.rt, cid)
    assert paid == _lines(cart) == converted
    for session in (pay.api, own):
        account = (await session.get("/api/cart")).json()
        assert account["status"] == "active" and _lines(account) == Counter({(mug.id, 1): 1})


async def test_the_paying_checkouts_stock_cannot_be_released_as_a_cart_hold(pay: Pay) -> None:
    """``DELETE /api/inventory/reservations/{id}`` releases the shopper's own cart holds,
    not the stock CONFIRM_ORDER reserved for the payment in flight."""
    from tillpoint.inventory.models import InventoryReservation

    cid, _ = await _paying(pay)
    reservation_id = f"{cid}:r1"
    r = await pay.api.delete(f"/api/inventory/reservations/{reservation_id}")
    assert r.status_code == 404 and error_code(r) == "reservation_not_found", r.text
    async with pay.rt.db.transaction() as s:
        held = await s.get(InventoryReservation, reservation_id)
        assert held is not None and held.status == "active"


async def test_a_second_device_cannot_confirm_an_order_for_a_cart_being_paid_for(
    pay: Pay, user_api: Api, new_api: Any
) -> None:
    """Two sessions of one customer share the account's cart: while one pays for it, the
    other's CONFIRM_ORDER (which would re-price it, take coupons off it and charge it a
    second time) is refused like any other change of the cart."""
    pay.api = user_api
    other: Api = await new_api()
    assert (await other.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    await _filled(user_api, pay.rt)
    checkouts = []
    for session in (user_api, other):
        cid = str((await start(session))["id"])
        for type_, fields in [
            ("SELECT_REGISTERED", {}),
            ("SUBMIT_SHIPPING", {"address": NY}),
            ("USE_SHIPPING_ADDRESS", {}),
            ("SELECT_SHIPPING", {"shipping_method_id": "us:ground"}),
            ("SELECT_PAYMENT", {"payment_method": {"type": "card", "payment_method_id": pay.ok}}),
        ]:  # fmt: skip
            assert (await send(session, cid, type_, **fields)).status_code == 200
        checkouts.append(cid)
    first, second = checkouts
    assert first != second
    assert (await send(user_api, first, "CONFIRM_ORDER")).status_code == 200
    _assert_locked(await send(other, second, "CONFIRM_ORDER"), first)
    assert (await pay.pay(first))["state"] == "order_confirmation"
    assert len(await pay.orders()) == 1
