"""Guest to registered: the guest cart merges into the user's cart on login/register."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests import factories
from tests.conftest import USER_EMAIL, USER_PASSWORD
from tests.support import Api
from tillpoint.cart.models import Cart
from tillpoint.catalog.models import Product
from tillpoint.runtime import Runtime

LINE_CAP = 5


@pytest.fixture(params=["db-only", "redis-cache"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    values: dict[str, Any] = {"cart_max_line_quantity": LINE_CAP}
    if request.param == "redis-cache":
        values["redis_url"] = request.getfixturevalue("redis_url")
    return values


async def _add(api: Api, product_id: str, quantity: int, **extra: Any) -> dict[str, Any]:
    r = await api.post(
        "/api/cart/items", json={"product_id": product_id, "quantity": quantity, **extra}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _lines(cart: dict[str, Any]) -> list[tuple[str, int]]:
    return [(i["product_id"], i["quantity"]) for i in cart["items"]]


async def test_overlapping_lines_add_up_and_others_are_appended(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug, tea, pot = [x async for x in _products(rt, 1800, 1250, 4000)]
    await _add(user_api, mug.id, 2)
    await _add(user_api, tea.id, 1)
    user_cart = (await user_api.get("/api/cart")).json()  # cached, with Redis
    await _add(api, mug.id, 1)
    await _add(api, pot.id, 3)
    guest_cart_id = api.session["cart_id"]

    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cart_id"] == user_cart["id"]
    assert body["cart_merge"]["combined"] == [mug.id] and body["cart_merge"]["added"] == [pot.id]
    merged = (await api.get("/api/cart")).json()
    assert _lines(merged) == [(mug.id, 3), (tea.id, 1), (pot.id, 3)]
    assert merged["version"] > user_cart["version"]
    assert merged["totals"]["subtotal"] == 3 * 1800 + 1250 + 3 * 4000
    # The other device sees the merged cart too (no stale cache).
    assert _lines((await user_api.get("/api/cart")).json()) == _lines(merged)
    async with rt.db.transaction() as s:
        guest = await s.get(Cart, guest_cart_id)
        assert guest is not None and guest.status == "abandoned"


async def _products(rt: Runtime, *prices: int) -> Any:
    for price in prices:
        yield await factories.product(rt, price=price)


async def test_merged_quantity_is_capped_at_the_line_limit(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug = await factories.product(rt)
    await _add(user_api, mug.id, 4)
    await _add(api, mug.id, 3)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.json()["cart_merge"]["capped"] == [mug.id]
    assert _lines((await api.get("/api/cart")).json()) == [(mug.id, LINE_CAP)]


async def test_lines_with_other_metadata_stay_separate(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug = await factories.product(rt)
    await _add(user_api, mug.id, 1, metadata={"engraving": "A"})
    await _add(api, mug.id, 1, metadata={"engraving": "B"})
    await api.login(USER_EMAIL, USER_PASSWORD)
    items = (await api.get("/api/cart")).json()["items"]
    assert [i["metadata"]["engraving"] for i in items] == ["A", "B"]


async def test_product_no_longer_for_sale_is_left_behind(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug, tea = [x async for x in _products(rt, 1000, 1200)]
    await _add(user_api, mug.id, 1)
    await _add(api, tea.id, 2)
    async with rt.db.transaction() as s:
        await s.execute(update(Product).where(Product.id == tea.id).values(active=False))
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.json()["cart_merge"]["left_behind"] == [
        {"product_id": tea.id, "reason": "product_inactive"}
    ]
    assert _lines((await api.get("/api/cart")).json()) == [(mug.id, 1)]


async def test_user_without_a_cart_adopts_the_guest_cart(api: Api, rt: Runtime) -> None:
    mug = await factories.product(rt)
    guest_cart = await _add(api, mug.id, 2)
    r = await api.register("adopter@shop.example.com", "plum-orchard-lantern-7")
    assert r.status_code == 201
    assert r.json()["cart_id"] == guest_cart["id"] and r.json()["cart_merge"] is None
    cart = (await api.get("/api/cart")).json()
    assert cart["id"] == guest_cart["id"] and _lines(cart) == [(mug.id, 2)]
    async with rt.db.transaction() as s:
        row = await s.get(Cart, guest_cart["id"])
        assert row is not None and row.user_id == r.json()["user"]["id"]


async def test_empty_guest_cart_leaves_the_user_cart_as_it_is(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug = await factories.product(rt)
    before = await _add(user_api, mug.id, 1)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.json()["cart_id"] == before["id"] and r.json()["cart_merge"] is None
    assert (await api.get("/api/cart")).json()["version"] == before["version"]


async def test_cart_stays_with_the_account_after_logout(user_api: Api, rt: Runtime) -> None:
    mug = await factories.product(rt)
    cart = await _add(user_api, mug.id, 1)
    r = await user_api.logout()
    assert r.json()["cart_id"] != cart["id"]
    assert (await user_api.get("/api/cart")).json()["items"] == []
    r = await user_api.login(USER_EMAIL, USER_PASSWORD)
    assert r.json()["cart_id"] == cart["id"]


async def test_double_submitted_login_merges_once(user_api: Api, api: Api, rt: Runtime) -> None:
    import asyncio

    mug = await factories.product(rt)
    await _add(user_api, mug.id, 1)
    await _add(api, mug.id, 2)
    body = {"email": USER_EMAIL, "password": USER_PASSWORD}
    first, second = await asyncio.gather(
        api.post("/api/auth/login", json=body), api.post("/api/auth/login", json=body)
    )
    assert {first.status_code, second.status_code} == {200}, (first.text, second.text)
    api.adopt(first.json())
    api.set_cookie("tp-session", first.cookies["tp-session"])
    api.set_cookie("tp-access", first.cookies["tp-access"])
    assert _lines((await api.get("/api/cart")).json()) == [(mug.id, 3)]


async def _guest_checkout_at_shipping(api: Api) -> dict[str, Any]:
    from tests.api.test_checkout import GUEST

    r = await api.post("/api/checkout")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for event, fields in (("SELECT_GUEST", {}), ("SUBMIT_GUEST_INFO", GUEST)):
        r = await api.post(f"/api/checkout/{cid}/events", json={"type": event, **fields})
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "shipping_address"
    return dict(r.json())


async def test_checkout_in_progress_follows_the_merged_cart(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    from tillpoint.checkout.models import Checkout

    mug, tea = [x async for x in _products(rt, 1000, 1200)]
    await _add(user_api, mug.id, 1)
    await _add(api, tea.id, 2)
    checkout = await _guest_checkout_at_shipping(api)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 200 and r.json()["cart_merge"] is not None
    got = await api.get(f"/api/checkout/{checkout['id']}")
    assert got.status_code == 200, got.text
    assert got.json()["state"] == "shipping_address"
    assert got.json()["version"] == checkout["version"] + 1
    async with rt.db.transaction() as s:
        row = await s.get(Checkout, checkout["id"])
        assert row is not None and row.cart_id == r.json()["cart_id"]


async def test_checkout_in_progress_survives_registering(api: Api, rt: Runtime) -> None:
    mug = await factories.product(rt)
    await _add(api, mug.id, 1)
    checkout = await _guest_checkout_at_shipping(api)
    r = await api.register("checkout-first@shop.example.com", "plum-orchard-lantern-7")
    assert r.status_code == 201
    got = await api.get(f"/api/checkout/{checkout['id']}")
    assert got.status_code == 200 and got.json()["state"] == "shipping_address"


async def test_coupons_that_cannot_combine_after_the_merge_are_dropped(
    user_api: Api, api: Api, rt: Runtime
) -> None:
    mug = await factories.product(rt, price=5000)
    mine = await factories.coupon(rt, "MINE10")  # neither is combinable
    guests = await factories.coupon(rt, "GUEST10")
    await _add(user_api, mug.id, 1)
    assert (await user_api.post("/api/cart/coupons", json={"code": "MINE10"})).status_code == 200
    await _add(api, mug.id, 1)
    assert (await api.post("/api/cart/coupons", json={"code": "GUEST10"})).status_code == 200
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.status_code == 200, r.text
    dropped = r.json()["cart_merge"]["coupons_dropped"]
    cart = (await api.get("/api/cart")).json()
    kept = [c["coupon_id"] for c in cart["coupons"]]
    # One survives (the promotions priority order decides which), the other is reported.
    assert len(dropped) == 1 and len(kept) == 1 and {*dropped, *kept} == {mine.id, guests.id}
    assert cart["totals"]["discount"] == 1000  # 10 % of 2 x 5000, once


async def test_guest_coupon_that_ended_is_dropped_at_login(
    user_api: Api, api: Api, rt: Runtime, clock: Any
) -> None:
    from datetime import timedelta

    mug = await factories.product(rt, price=5000)
    ending = await factories.coupon(rt, "ENDING5", end_date=clock.now() + timedelta(minutes=5))
    await _add(user_api, mug.id, 1)
    await _add(api, mug.id, 1)
    assert (await api.post("/api/cart/coupons", json={"code": "ENDING5"})).status_code == 200
    clock.advance(minutes=10)
    r = await api.login(USER_EMAIL, USER_PASSWORD)
    assert r.json()["cart_merge"]["coupons_dropped"] == [ending.id]
    cart = (await api.get("/api/cart")).json()
    assert cart["coupons"] == [] and cart["totals"]["discount"] == 0
