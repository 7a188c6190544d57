"""Coupons through checkout pricing: discounts in the totals, taxed after discount,
re-validated at every pricing and removed with a notice at CONFIRM_ORDER."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from tests import factories
from tests.api.test_checkout import GUEST, fill_cart, send, start, to_state
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime


async def test_checkout_totals_carry_the_cart_coupons(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt, price=2000, qty=2)
    await factories.coupon(rt, "TEN", value=1000, combinable=True)
    await factories.coupon(rt, "SHIPFREE", type="free_shipping", value=0, combinable=True)
    for code in ("shipfree", "ten"):
        assert (await api.post("/api/cart/coupons", json={"code": code})).status_code == 200
    cid = (await start(api))["id"]
    body = await to_state(api, cid, "order_review")
    t = body["context"]["totals"]
    assert t["subtotal"] == 4000 and t["shipping"] > 0
    # 10 % off the goods, all of the shipping; NY 4 % tax on the discounted 36.00 only.
    assert t["discount"] == 400 + t["shipping"]
    assert t["tax"] == 144
    assert t["total"] == 4000 - 400 + 144
    assert [(p["code"], p["amount"]) for p in body["context"]["promotions"]] == [
        ("TEN", 400),
        ("SHIPFREE", t["shipping"]),
    ]
    assert sum(line["discount"] for line in t["lines"]) == 400


async def test_a_coupon_that_expired_is_left_out_then_removed_at_confirm(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await fill_cart(api, rt, price=2000, qty=1)
    c = await factories.coupon(rt, "BRIEF", value=1000, end_date=clock.now() + timedelta(minutes=5))
    await api.post("/api/cart/coupons", json={"code": "BRIEF"})
    cid = (await start(api))["id"]
    body = await to_state(api, cid, "order_review")
    assert body["context"]["totals"]["discount"] == 200
    clock.advance(minutes=5)
    # Pricing re-checks the coupon: a read no longer includes it.
    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["context"]["totals"]["discount"] == 0 and got["context"]["promotions"] == []
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and error_code(r) == "totals_changed"
    details = r.json()["error"]["details"]
    assert details["totals"]["discount"] == 0
    assert [(n["code"], n["coupon_id"], n["reason"]) for n in details["notices"]] == [
        ("coupon_removed", c.id, "expired")
    ]
    cart = (await api.get("/api/cart")).json()
    assert cart["coupons"] == [] and cart["totals"]["discount"] == 0
    async with rt.db.transaction() as s:
        reasons = (
            await s.scalars(select(AuditLog.meta).where(AuditLog.event_type == "coupon_removed"))
        ).all()
    assert [m["reason"] for m in reasons] == ["expired"]
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200 and r.json()["state"] == "payment_processing"


@contextmanager
def _statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", keep)


async def test_a_step_reads_the_coupons_only_when_the_cart_has_one(api: Api, rt: Runtime) -> None:
    """The step's cart read says whether any coupon is applied: without one, pricing does
    not read the coupons; one applied mid-checkout is priced at the next step."""
    await fill_cart(api, rt, price=2000, qty=2)
    await factories.coupon(rt, "TEN", value=1000, combinable=True)
    cid = (await start(api))["id"]
    with _statements(rt) as seen:
        r = await send(api, cid, "SELECT_GUEST")
    assert r.status_code == 200, r.text
    assert r.json()["context"]["totals"]["discount"] == 0
    assert not [s for s in seen if "FROM applied_coupons" in s and "EXISTS" not in s], seen
    assert (await api.post("/api/cart/coupons", json={"code": "TEN"})).status_code == 200
    with _statements(rt) as seen:
        r = await send(api, cid, "SUBMIT_GUEST_INFO", **GUEST)
    assert r.status_code == 200, r.text
    assert r.json()["context"]["totals"]["discount"] == 400
    assert [s for s in seen if "FROM applied_coupons" in s and "EXISTS" not in s], seen
