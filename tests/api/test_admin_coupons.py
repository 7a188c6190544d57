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


OUT_OF_RANGE = [
    ({"usage_limit": 2**63}, "usage_limit"),
    ({"per_customer_limit": 2**63}, "per_customer_limit"),
    ({"usage_limit": 10**9 + 1}, "usage_limit"),
    ({"type": "fixed_amount", "value": 10**12, "currency": "USD"}, "value"),
    ({"type": "fixed_amount", "value": 2**31, "currency": "USD"}, "value"),
    ({"minimum_order_amount": 2**31}, "minimum_order_amount"),
    ({"maximum_discount": 2**40}, "maximum_discount"),
]


@pytest.mark.parametrize(("changes", "field"), OUT_OF_RANGE)
async def test_numbers_beyond_the_documented_bounds_are_refused_with_their_path(
    admin_api: Api, changes: dict[str, Any], field: str
) -> None:
    made = (await admin_api.post("/api/admin/coupons", json=BODY)).json()
    batch = {**{k: v for k, v in BODY.items() if k != "code"}, "count": 2, **changes}
    for r in [
        await admin_api.post("/api/admin/coupons", json={**BODY, "code": "other", **changes}),
        await admin_api.post("/api/admin/coupons/bulk", json=batch),
        await admin_api.patch(f"/api/admin/coupons/{made['id']}", json=changes),
    ]:
        assert r.status_code == 422, r.text
        assert [field] in [f["path"] for f in r.json()["error"]["fields"]], r.text


NOT_NULLABLE = [
    "code",
    "type",
    "value",
    "start_date",
    "end_date",
    "is_active",
    "combinable",
    "applicable_products",
    "excluded_products",
    "metadata",
]


@pytest.mark.parametrize("field", NOT_NULLABLE)
async def test_patch_with_null_for_a_field_that_cannot_be_empty_is_refused(
    admin_api: Api, field: str
) -> None:
    made = (await admin_api.post("/api/admin/coupons", json=BODY)).json()
    r = await admin_api.patch(f"/api/admin/coupons/{made['id']}", json={field: None})
    assert r.status_code == 422, r.text
    assert [(f["path"], f["code"]) for f in r.json()["error"]["fields"]] == [
        ([field], "null_not_allowed")
    ]
    assert (await admin_api.get(f"/api/admin/coupons/{made['id']}")).json() == made


@pytest.mark.parametrize(
    "field", ["usage_limit", "per_customer_limit", "minimum_order_amount", "maximum_discount"]
)
async def test_patch_with_null_clears_a_field_that_may_be_empty(admin_api: Api, field: str) -> None:
    body = {**BODY, "usage_limit": 5, "per_customer_limit": 1}
    body |= {"minimum_order_amount": 1000, "maximum_discount": 500, "currency": "USD"}
    made = (await admin_api.post("/api/admin/coupons", json=body)).json()
    assert made[field] is not None
    r = await admin_api.patch(f"/api/admin/coupons/{made['id']}", json={field: None})
    assert r.status_code == 200, r.text
    assert r.json()[field] is None


async def test_the_schema_says_which_patch_fields_may_be_null_and_every_bound(
    admin_api: Api,
) -> None:
    spec = (await admin_api.get("/openapi.json")).json()
    props = spec["components"]["schemas"]["CouponPatch"]["properties"]
    for name in NOT_NULLABLE:
        assert "null" not in str(props[name]), (name, props[name])
    for name in ("usage_limit", "per_customer_limit", "minimum_order_amount", "maximum_discount"):
        assert {"type": "null"} in props[name]["anyOf"], name
    assert "maximum" in str(props["usage_limit"]) and "maximum" in str(props["value"])
