"""Coupons on the cart over HTTP: apply, remove, re-validation on every change, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.promotions import admin
from tillpoint.runtime import Runtime


async def _cart_with(api: Api, rt: Runtime, *lines: tuple[int, int]) -> list[Any]:
    products = []
    for price, qty in lines:
        p = await factories.product(rt, price=price)
        r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": qty})
        assert r.status_code == 200, r.text
        products.append(p)
    return products


async def test_apply_shows_coupon_and_discount_then_remove(api: Api, rt: Runtime) -> None:
    await _cart_with(api, rt, (1500, 2), (800, 1))
    c = await factories.coupon(rt, "SAVE10", value=1000)
    r = await api.post("/api/cart/coupons", json={"code": "  save10 "})
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["coupons"] == [
        {
            "id": cart["coupons"][0]["id"],
            "coupon_id": c.id,
            "code": "SAVE10",
            "discount_amount": 380,
        }
    ]
    assert cart["totals"]["discount"] == 380 and cart["totals"]["total"] == 3800 - 380
    assert r.headers["etag"] == f'"{cart["version"]}"'
    assert (await api.get("/api/cart")).json()["totals"]["discount"] == 380
    r = await api.delete(f"/api/cart/coupons/{c.id}")
    assert r.status_code == 200 and r.json()["coupons"] == []
    assert r.json()["totals"]["discount"] == 0
    r = await api.delete(f"/api/cart/coupons/{c.id}")
    assert r.status_code == 404 and error_code(r) == "coupon_not_applied"


async def test_refusals_carry_stable_codes_and_every_reason(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await _cart_with(api, rt, (1000, 1))
    r = await api.post("/api/cart/coupons", json={"code": "NOPE"})
    assert r.status_code == 422 and error_code(r) == "coupon_not_found"
    assert r.json()["error"]["fields"][0]["path"] == ["code"]
    await factories.coupon(
        rt,
        "LATE",
        start_date=clock.now() + timedelta(days=1),
        end_date=clock.now() + timedelta(days=2),
    )
    r = await api.post("/api/cart/coupons", json={"code": "late"})
    assert r.status_code == 422 and error_code(r) == "coupon_not_started"
    await factories.coupon(rt, "BIG", minimum_order_amount=5000)
    r = await api.post("/api/cart/coupons", json={"code": "BIG"})
    assert error_code(r) == "coupon_minimum_not_met"
    assert r.json()["error"]["details"]["errors"][0]["details"] == {
        "minimum_order_amount": 5000,
        "subtotal": 1000,
    }
    await factories.coupon(rt, "FIRST")
    await factories.coupon(rt, "SECOND", type="fixed_amount", value=100)
    assert (await api.post("/api/cart/coupons", json={"code": "FIRST"})).status_code == 200
    r = await api.post("/api/cart/coupons", json={"code": "SECOND"})
    assert r.status_code == 409 and error_code(r) == "coupon_not_combinable"
    assert r.json()["error"]["details"]["conflicts"][0]["coupon_code"] == "FIRST"
    r = await api.post("/api/cart/coupons", json={"code": "FIRST"})
    assert r.status_code == 409 and error_code(r) == "coupon_already_applied"
    r = await api.post("/api/cart/coupons", json={"code": ""})
    assert r.status_code == 422 and error_code(r) == "invalid_request"
    r = await api.post("/api/cart/coupons", json={"code": "X", "discount": 5})
    assert r.status_code == 422 and error_code(r) == "invalid_request"
    r = await api.delete("/api/cart/coupons/not-a-coupon")
    assert r.status_code == 404 and error_code(r) == "not_found"


async def test_cart_change_reprices_and_drops_a_coupon_that_no_longer_holds(
    api: Api, rt: Runtime
) -> None:
    (_mug,) = await _cart_with(api, rt, (2000, 3))
    c = await factories.coupon(
        rt, "MIN50", type="fixed_amount", value=1000, minimum_order_amount=5000
    )
    r = await api.post("/api/cart/coupons", json={"code": "MIN50"})
    assert r.json()["coupons"][0]["discount_amount"] == 1000
    line = r.json()["items"][0]["id"]
    r = await api.patch(f"/api/cart/items/{line}", json={"quantity": 2})
    cart = r.json()
    assert cart["coupons"] == [] and cart["totals"]["discount"] == 0
    assert {
        "code": "coupon_removed",
        "coupon_id": c.id,
        "coupon_code": "MIN50",
        "reason": "minimum_not_met",
        "message": "The order does not reach this coupon's minimum amount.",
    } in cart["notices"]
    async with rt.db.transaction() as s:
        events = (
            await s.scalars(
                select(AuditLog)
                .where(
                    AuditLog.entity_id == cart["id"],
                    AuditLog.event_type.in_(["coupon_applied", "coupon_removed"]),
                )
                .order_by(AuditLog.seq)
            )
        ).all()
    assert [(e.event_type, e.meta.get("reason")) for e in events] == [
        ("coupon_applied", None),
        ("coupon_removed", "minimum_not_met"),
    ]
    assert events[0].session_id is not None and events[0].user_agent is not None


async def test_percentage_follows_quantity_changes(api: Api, rt: Runtime) -> None:
    await _cart_with(api, rt, (999, 1))
    await factories.coupon(rt, "TEN")
    r = await api.post("/api/cart/coupons", json={"code": "TEN"})
    assert r.json()["totals"]["discount"] == 100  # 99.9 rounds half up
    line = r.json()["items"][0]["id"]
    r = await api.patch(f"/api/cart/items/{line}", json={"quantity": 3})
    assert r.json()["coupons"][0]["discount_amount"] == 300  # 299.7


async def test_deactivated_or_expired_coupon_goes_at_the_next_change(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    products = await _cart_with(api, rt, (1000, 1))
    c = await factories.coupon(rt, "SOON", end_date=clock.now() + timedelta(minutes=5))
    await api.post("/api/cart/coupons", json={"code": "SOON"})
    clock.advance(minutes=5)
    r = await api.post("/api/cart/items", json={"product_id": products[0].id})
    assert r.json()["coupons"] == []
    assert [n["reason"] for n in r.json()["notices"] if n["code"] == "coupon_removed"] == [
        "expired"
    ]
    d = await factories.coupon(rt, "OFF")
    await api.post("/api/cart/coupons", json={"code": "OFF"})
    await admin.deactivate_coupon(rt, d.id)
    r = await api.post("/api/cart/items", json={"product_id": products[0].id})
    assert [n["reason"] for n in r.json()["notices"] if n["code"] == "coupon_removed"] == [
        "inactive"
    ]
    assert c.id != d.id


async def test_stacked_coupons_give_the_same_cart_in_any_order(
    api: Api, new_api: Any, rt: Runtime
) -> None:
    await factories.coupon(rt, "PCT", combinable=True, value=1000)
    await factories.coupon(rt, "FIX", combinable=True, type="fixed_amount", value=500)
    await factories.coupon(rt, "SHIP", combinable=True, type="free_shipping", value=0)
    other = await new_api()
    p = await factories.product(rt, price=4000)
    totals = []
    for caller, codes in ((api, ["FIX", "SHIP", "PCT"]), (other, ["PCT", "FIX", "SHIP"])):
        await caller.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
        for code in codes:
            r = await caller.post("/api/cart/coupons", json={"code": code})
            assert r.status_code == 200, r.text
        cart = r.json()
        totals.append(
            (cart["totals"], sorted((c["code"], c["discount_amount"]) for c in cart["coupons"]))
        )
    # 10 % of 80.00 first, then 5.00 off 72.00; shipping is not part of a cart.
    assert totals[0] == totals[1]
    assert totals[0][1] == [("FIX", 500), ("PCT", 800), ("SHIP", 0)]


async def test_stale_if_match_refuses_the_coupon(api: Api, rt: Runtime) -> None:
    await _cart_with(api, rt, (1000, 1))
    await factories.coupon(rt, "TEN")
    version = (await api.get("/api/cart")).json()["version"]
    r = await api.post(
        "/api/cart/coupons", json={"code": "TEN"}, headers={"If-Match": str(version - 1)}
    )
    assert r.status_code == 412
    r = await api.post(
        "/api/cart/coupons", json={"code": "TEN"}, headers={"If-Match": str(version)}
    )
    assert r.status_code == 200


async def test_coupon_endpoints_need_session_and_csrf(api: Api, new_api: Any, rt: Runtime) -> None:
    stranger = await new_api(start=False)
    r = await stranger.post("/api/cart/coupons", json={"code": "X"})
    assert r.status_code == 403  # no CSRF token
    del api.client.headers["X-CSRF-Token"]
    r = await api.post("/api/cart/coupons", json={"code": "X"})
    assert r.status_code == 403


async def test_a_customer_who_used_a_coupon_up_cannot_apply_it_again(
    user_api: Api, rt: Runtime
) -> None:
    from tillpoint.promotions.usage import claim_coupon_usage

    me = (await user_api.get("/api/auth/me")).json()
    user_id = me["id"]
    c = await factories.coupon(rt, "WELCOME", per_customer_limit=1)
    async with rt.db.transaction() as s:
        await claim_coupon_usage(s, [c.id], user_id=user_id, email=None, order_id="ord_before")
    await _cart_with(user_api, rt, (1000, 1))
    r = await user_api.post("/api/cart/coupons", json={"code": "welcome"})
    assert r.status_code == 422 and error_code(r) == "coupon_customer_limit_reached"
