"""Admin stock endpoints through a real admin login: set, adjust, settings, refusals,
low-stock list; customers are refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.inventory_support import level, stocked
from tests.support import Api, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.auth.models import User
from tillpoint.runtime import Runtime


@pytest.fixture
def admin(admin_api: Api) -> Api:
    return admin_api


async def test_customers_cannot_touch_stock(user_api: Api, rt: Runtime) -> None:
    p = await stocked(rt, 4)
    r = await user_api.put(f"/api/admin/inventory/{p.id}", json={"on_hand": 9, "reason": "x"})
    assert r.status_code == 403 and error_code(r) == "admin_required"
    r = await user_api.get("/api/admin/inventory")
    assert r.status_code == 403
    assert (await level(rt, p.id)).on_hand == 4


async def test_set_then_adjust_with_reasons_audited(admin: Api, rt: Runtime) -> None:
    p = await factories.product(rt)
    r = await admin.put(f"/api/admin/inventory/{p.id}", json={"on_hand": 20, "reason": "count"})
    assert r.status_code == 200, r.text
    assert (r.json()["on_hand"], r.json()["reserved"], r.json()["sku"]) == (20, 0, p.sku)
    r = await admin.put(f"/api/admin/inventory/{p.id}", json={"delta": -3, "reason": "broken"})
    assert r.json()["on_hand"] == 17
    r = await admin.put(
        f"/api/admin/inventory/{p.id}",
        json={"reason": "supplier late", "backorder_allowed": True, "restock_date": "2027-02-01"},
    )
    assert r.json()["backorder_allowed"] is True and r.json()["restock_date"] == "2027-02-01"
    assert (await level(rt, p.id)).on_hand == 17
    async with rt.db.transaction() as s:
        rows = list(await s.scalars(select(AuditLog).where(AuditLog.entity_id == p.sku)))
    assert sorted(r.meta["reason"] for r in rows) == ["broken", "count", "supplier late"]
    async with rt.db.transaction() as s:
        admin_id = await s.scalar(select(User.id).where(User.role == "admin"))
    assert admin_id is not None and {r.user_id for r in rows} == {admin_id}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"delta": -99, "reason": "x"}, 422, "negative_stock"),
        ({"on_hand": -1, "reason": "x"}, 422, "negative_stock"),
        ({"on_hand": 1, "delta": 1, "reason": "x"}, 422, "on_hand_or_delta"),
        ({"on_hand": 1}, 422, "invalid_request"),
        ({"on_hand": "5", "reason": "x"}, 422, "invalid_request"),
        ({"on_hand": 5, "reason": "x", "price": 1}, 422, "invalid_request"),
        ({"on_hand": 5, "reason": "x", "variant_id": "var_" + "Q" * 22}, 422, "variant_not_found"),
    ],
)
async def test_bad_adjustments_are_refused(
    admin: Api, rt: Runtime, body: dict[str, Any], status: int, code: str
) -> None:
    p = await stocked(rt, 4)
    r = await admin.put(f"/api/admin/inventory/{p.id}", json=body)
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert (await level(rt, p.id)).on_hand == 4


async def test_unknown_product_is_404(admin: Api) -> None:
    r = await admin.put("/api/admin/inventory/prod_" + "Z" * 22, json={"on_hand": 1, "reason": "x"})
    assert r.status_code == 404 and error_code(r) == "product_not_found"


async def test_low_stock_list_pages_by_sku(admin: Api, rt: Runtime) -> None:
    low = [await stocked(rt, n, sku=f"LOW-{n}") for n in (0, 1, 2)]
    await stocked(rt, 100, sku="PLENTY")
    r = await admin.get("/api/admin/inventory", params={"limit": 2})
    page = r.json()
    assert [i["sku"] for i in page["items"]] == ["LOW-0", "LOW-1"]
    r = await admin.get("/api/admin/inventory", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [i["sku"] for i in r.json()["items"]] == ["LOW-2"] and r.json()["next_cursor"] is None
    assert low[0].sku == "LOW-0"
