"""Coupon administration over HTTP: admin role only, create/list/update/deactivate/bulk."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.support import Api, error_code
from tillpoint.runtime import Runtime

BODY = {
    "code": "spring15",
    "type": "percentage",
    "value": 1500,
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2099-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/admin/coupons"),
        ("POST", "/api/admin/coupons"),
        ("POST", "/api/admin/coupons/bulk"),
        ("PATCH", "/api/admin/coupons/cpn_" + "a" * 22),
        ("POST", "/api/admin/coupons/cpn_" + "a" * 22 + "/deactivate"),
    ],
)
async def test_guests_cannot_manage_coupons(api: Api, method: str, path: str) -> None:
    r = await api.request(method, path, json=BODY if method != "GET" else None)
    assert r.status_code == 401 and error_code(r) == "login_required"


async def test_admin_creates_lists_updates_and_deactivates(
    admin_api: Api, api: Api, rt: Runtime
) -> None:
    r = await admin_api.post("/api/admin/coupons", json=BODY)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["code"], made["value"], made["usage_count"], made["is_active"]) == (
        "SPRING15",
        1500,
        0,
        True,
    )
    r = await admin_api.post("/api/admin/coupons", json={**BODY, "code": "Spring15"})
    assert r.status_code == 409 and error_code(r) == "coupon_code_taken"
    r = await admin_api.get("/api/admin/coupons")
    assert [c["id"] for c in r.json()["items"]] == [made["id"]] and r.json()["next_cursor"] is None
    r = await admin_api.patch(f"/api/admin/coupons/{made['id']}", json={"value": 2000})
    assert r.status_code == 200 and r.json()["value"] == 2000
    # The customer sees the new terms.
    p = await factories.product(rt, price=1000)
    await api.post("/api/cart/items", json={"product_id": p.id})
    r = await api.post("/api/cart/coupons", json={"code": "spring15"})
    assert r.json()["totals"]["discount"] == 200
    r = await admin_api.post(f"/api/admin/coupons/{made['id']}/deactivate")
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = await api.post("/api/cart/items", json={"product_id": p.id})
    assert r.json()["coupons"] == [] and r.json()["notices"][-1]["reason"] == "inactive"
    r = await admin_api.get("/api/admin/coupons", params={"active": "false"})
    assert [c["id"] for c in r.json()["items"]] == [made["id"]]


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"value": 10001}, 422, "invalid_coupon"),
        ({"value": "10"}, 422, "invalid_request"),
        ({"value": 1.5}, 422, "invalid_request"),
        ({"type": "bogus"}, 422, "invalid_request"),
        ({"end_date": "2025-01-01T00:00:00Z"}, 422, "invalid_coupon"),
        ({"start_date": "2026-01-01T00:00:00"}, 422, "invalid_coupon"),
        ({"usage_count": 5}, 422, "invalid_request"),
        ({"code": "bad code"}, 422, "invalid_coupon"),
        ({"applicable_products": ["prod_nope"]}, 422, "invalid_coupon"),
    ],
)
async def test_bad_coupons_get_field_errors(
    admin_api: Api, changes: dict[str, Any], status: int, code: str
) -> None:
    r = await admin_api.post("/api/admin/coupons", json={**BODY, **changes})
    assert r.status_code == status and error_code(r) == code
    assert r.json()["error"]["fields"]


async def test_admin_bulk_creates_unique_single_use_codes(
    admin_api: Api, api: Api, rt: Runtime
) -> None:
    r = await admin_api.post(
        "/api/admin/coupons/bulk",
        json={**{k: v for k, v in BODY.items() if k != "code"}, "count": 40, "prefix": "gift"},
    )
    assert r.status_code == 201, r.text
    codes = [c["code"] for c in r.json()["items"]]
    assert len(set(codes)) == 40 and all(c.startswith("GIFT-") for c in codes)
    r = await admin_api.get("/api/admin/coupons", params={"limit": 25})
    assert len(r.json()["items"]) == 25 and r.json()["next_cursor"]
    p = await factories.product(rt, price=1000)
    await api.post("/api/cart/items", json={"product_id": p.id})
    r = await api.post("/api/cart/coupons", json={"code": codes[0].lower()})
    assert r.status_code == 200 and r.json()["totals"]["discount"] == 150


async def test_customers_cannot_manage_coupons(user_api: Api) -> None:
    r = await user_api.post("/api/admin/coupons", json=BODY)
    assert r.status_code == 403 and error_code(r) == "admin_required"
