"""Admin stock endpoints: set, adjust, settings, refusals, low-stock list.

Until the accounts feature provides a logged-in admin fixture, ``require_admin`` is
overridden with an admin session context; the guard itself is tested (401) in
``test_inventory_api.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.inventory_support import level, stocked
from tests.support import Api, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime
from tillpoint.sessions.service import SessionContext
from tillpoint.web.deps import require_admin


@pytest.fixture
async def admin(app: Any, api: Api) -> AsyncIterator[Api]:
    ctx = SessionContext(
        session_id="s" * 64,
        cart_id="cart_" + "A" * 22,
        expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        user_id="user_" + "A" * 22,
        role="admin",
    )
    app.dependency_overrides[require_admin] = lambda: ctx
    yield api
    app.dependency_overrides.pop(require_admin, None)


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
    assert {r.user_id for r in rows} == {"user_" + "A" * 22}


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
