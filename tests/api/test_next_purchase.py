"""After an order the session shops on at once: a fresh, empty, active cart, whichever path
made the order (the browser's confirmation, a webhook, the sweeper's recovery), for a
guest and for every session of a registered shopper, through the Redis session and cart
caches; the converted cart stays with its order only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_checkout import NY, fill_cart, send, start, to_state
from tests.api.test_purchases import Pay, make_pay
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.localstripe_server import LocalStripe
from tests.stripe_fixtures import stripe_settings
from tests.support import Api, MovableClock
from tillpoint.auth import guest_session_cache as guest_cache
from tillpoint.auth import session_cache
from tillpoint.auth.tokens import session_id_for
from tillpoint.cart import cache as cart_cache
from tillpoint.cart.models import Cart
from tillpoint.orders.models import Order
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

SANDBOX_SECRET = "whsec_sandbox_purchases"  # as test_purchases' webhooks are signed


@pytest.fixture(params=["sandbox", "stripe"])
def pay_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["db-only", "redis-cache"])
def cache_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(
    pay_backend: str, cache_mode: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    values: dict[str, Any]
    if pay_backend == "stripe":
        ls: LocalStripe = request.getfixturevalue("localstripe")
        values = stripe_settings(ls.url)
    else:
        values = {"sandbox_webhook_secret": SANDBOX_SECRET, "payment_gateway": "sandbox"}
    if cache_mode == "redis-cache":
        values["redis_url"] = request.getfixturevalue("redis_url")
    return values


@pytest.fixture
async def pay(api: Api, rt: Runtime, pay_backend: str, request: pytest.FixtureRequest) -> Pay:
    return await make_pay(api, rt, pay_backend, request)


async def _walk_to_review(api: Api, pay: Pay, *, registered: bool) -> str:
    await fill_cart(api, pay.rt)
    cid = str((await start(api))["id"])
    if registered:
        for type_, fields in [
            ("SELECT_REGISTERED", {}),
            ("SUBMIT_SHIPPING", {"address": NY}),
            ("USE_SHIPPING_ADDRESS", {}),
        ]:  # fmt: skip
            assert (await send(api, cid, type_, **fields)).status_code == 200
        options = (await api.get(f"/api/checkout/{cid}/shipping-options")).json()["items"]
        await send(api, cid, "SELECT_SHIPPING", shipping_method_id=options[0]["id"])
    else:
        await to_state(api, cid, "payment_method")
    r = await send(
        api, cid, "SELECT_PAYMENT", payment_method={"type": "card", "payment_method_id": pay.ok}
    )
    assert r.status_code == 200 and r.json()["state"] == "order_review", r.text
    return cid


async def _complete(pay: Pay, cid: str, intent_id: str, by: str, clock: MovableClock) -> None:
    """The order is made by the shopper's own request, or without it: Stripe.js confirmed
    and then the webhook, or (no webhook ever) the sweeper's recovery."""
    if by == "browser":
        assert (await pay.pay(cid))["state"] == "order_confirmation"
        return
    if by == "sweeper" and isinstance(pay.gateway, SandboxGateway):
        pay.gateway.delivery_delay = 3600.0  # the sandbox's own webhook never comes in time
    await pay.gateway.confirm_payment_intent(intent_id, idempotency_key=f"js:{intent_id}")
    if by == "webhook":
        await pay.webhook(intent_id, "payment_intent.succeeded")
    else:
        clock.advance(minutes=5)  # past the recovery grace
        assert (await run_sweep(pay.rt))["payments"] == 1


async def _purchase(
    pay: Pay, api: Api, *, registered: bool, by: str, clock: MovableClock
) -> tuple[str, str]:
    """One whole purchase in ``api``'s session: (the cart it converted, the order)."""
    cart_before = (await api.get("/api/cart")).json()["id"]
    cid = await _walk_to_review(api, pay, registered=registered)
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    await _complete(pay, cid, intent_id, by, clock)
    await pay.settle()
    async with pay.rt.db.transaction() as s:
        order = await s.scalar(select(Order).where(Order.checkout_id == cid))
        assert order is not None and order.cart_id == cart_before
        converted = await s.get(Cart, cart_before)
        assert converted is not None and converted.status == "converted"
    return cart_before, order.id


async def _assert_fresh_cart(api: Api, converted: str) -> dict[str, Any]:
    r = await api.get("/api/cart")
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["id"] != converted and cart["status"] == "active", cart
    assert cart["items"] == [] and cart["coupons"] == [] and cart["totals"]["total"] == 0
    assert (await api.start())["cart_id"] == cart["id"]  # GET /api/session, as a page does
    return dict(cart)


@pytest.mark.parametrize("by", ["browser", "webhook", "sweeper"])
async def test_three_guest_purchases_in_a_row_in_one_session(
    pay: Pay, clock: MovableClock, by: str
) -> None:
    carts, orders = [], []
    for _ in range(3):
        converted, order_id = await _purchase(pay, pay.api, registered=False, by=by, clock=clock)
        fresh = await _assert_fresh_cart(pay.api, converted)
        carts.append(converted)
        orders.append(order_id)
        if pay.rt.redis is not None:  # no instance can serve the converted cart from Redis
            assert not await pay.rt.redis.exists(cart_cache.PREFIX + converted)
        assert fresh["id"] not in carts
    assert len(set(carts)) == 3 and len(set(orders)) == 3


@pytest.mark.parametrize("by", ["browser", "webhook", "sweeper"])
async def test_three_registered_purchases_in_a_row_move_every_session_of_the_user(
    pay: Pay, user_api: Api, new_api: Any, clock: MovableClock, by: str
) -> None:
    pay.api = user_api
    other: Api = await new_api()  # the same customer on a second device
    assert (await other.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    orders = []
    for _ in range(3):
        shared = (await other.get("/api/cart")).json()["id"]
        converted, order_id = await _purchase(pay, user_api, registered=True, by=by, clock=clock)
        assert converted == shared  # both sessions held the user's one cart
        fresh = await _assert_fresh_cart(user_api, converted)
        assert (await _assert_fresh_cart(other, converted))["id"] == fresh["id"]
        async with pay.rt.db.transaction() as s:
            cart = await s.get(Cart, fresh["id"])
            assert cart is not None and cart.user_id is not None
        orders.append(order_id)
    history = (await user_api.get("/api/orders")).json()["items"]
    assert sorted(o["id"] for o in history) == sorted(orders)


@pytest.mark.parametrize("cache_mode", ["redis-cache"], indirect=True)
@pytest.mark.parametrize("pay_backend", ["sandbox"], indirect=True)
async def test_a_session_copy_cached_before_the_order_does_not_bring_back_its_cart(
    pay: Pay, user_api: Api, clock: MovableClock
) -> None:
    """A request that read the session row just before the order committed writes its copy
    to Redis just after: every instance must still see the fresh cart."""
    assert pay.rt.redis is not None
    guest_token = pay.api.client.cookies.get("tp-session")
    assert guest_token
    guest_sid = session_id_for(guest_token)
    stale_guest = await guest_cache.cached(pay.rt, guest_sid)
    assert isinstance(stale_guest, tuple)
    converted, _ = await _purchase(pay, pay.api, registered=False, by="webhook", clock=clock)
    assert stale_guest[0] == converted
    await guest_cache.store(pay.rt, guest_sid, *stale_guest)
    await _assert_fresh_cart(pay.api, converted)

    token = user_api.client.cookies.get("tp-session")
    assert token
    user_sid = session_id_for(token)
    assert (await user_api.get("/api/cart")).status_code == 200
    stale_user = await session_cache.cached(pay.rt, user_sid)
    assert isinstance(stale_user, session_cache.LiveSession)
    pay.api = user_api
    converted, _ = await _purchase(pay, user_api, registered=True, by="browser", clock=clock)
    assert stale_user.cart_id == converted
    await session_cache.store(pay.rt, stale_user)
    await _assert_fresh_cart(user_api, converted)


@pytest.mark.parametrize("cache_mode", ["db-only"], indirect=True)
@pytest.mark.parametrize("pay_backend", ["sandbox"], indirect=True)
async def test_the_next_cart_takes_edits_coupons_and_a_new_checkout(
    pay: Pay, clock: MovableClock
) -> None:
    converted, _ = await _purchase(pay, pay.api, registered=False, by="browser", clock=clock)
    product = await fill_cart(pay.api, pay.rt)
    cart = (await pay.api.get("/api/cart")).json()
    line = cart["items"][0]
    assert line["product_id"] == product.id and cart["id"] != converted
    r = await pay.api.patch(f"/api/cart/items/{line['id']}", json={"quantity": 3})
    assert r.status_code == 200 and r.json()["items"][0]["quantity"] == 3, r.text
    started = await pay.api.post("/api/checkout")
    assert started.status_code == 201, started.text
    assert started.json()["context"]["cart_id"] == cart["id"]
    assert (await pay.api.delete("/api/cart")).status_code == 200
