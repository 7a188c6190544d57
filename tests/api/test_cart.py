from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests import factories
from tests.support import Api, error_code


async def test_add_get_update_remove_clear(api: Api, rt: Any) -> None:
    mug = await factories.product(rt, price=1800)
    tea = await factories.product(rt, price=1250)
    r = await api.post("/api/cart/items", json={"product_id": mug.id, "quantity": 2})
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["version"] == 2 and r.headers["etag"] == '"2"'
    assert cart["totals"] == {"subtotal": 3600, "discount": 0, "total": 3600, "item_count": 2}
    r = await api.post("/api/cart/items", json={"product_id": tea.id})
    cart = r.json()
    assert [i["quantity"] for i in cart["items"]] == [2, 1]
    tea_line = cart["items"][1]["id"]
    r = await api.patch(f"/api/cart/items/{tea_line}", json={"quantity": 5})
    assert r.json()["totals"]["subtotal"] == 3600 + 5 * 1250
    r = await api.delete(f"/api/cart/items/{tea_line}")
    assert [i["product_id"] for i in r.json()["items"]] == [mug.id]
    r = await api.delete("/api/cart")
    assert r.json()["items"] == [] and r.json()["totals"]["total"] == 0
    got = (await api.get("/api/cart")).json()
    assert got["items"] == [] and got["version"] == r.json()["version"]


async def test_same_product_and_metadata_merge_into_one_line(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    await api.post(
        "/api/cart/items", json={"product_id": p.id, "quantity": 1, "metadata": {"gift": True}}
    )
    await api.post(
        "/api/cart/items", json={"product_id": p.id, "quantity": 2, "metadata": {"gift": True}}
    )
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 1})
    items = r.json()["items"]
    assert [(i["quantity"], i["metadata"]) for i in items] == [(3, {"gift": True}), (1, {})]


async def test_quantity_zero_removes_line(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    line = (await api.post("/api/cart/items", json={"product_id": p.id})).json()["items"][0]["id"]
    r = await api.patch(f"/api/cart/items/{line}", json={"quantity": 0})
    assert r.json()["items"] == []


async def test_variants_priced_and_required(api: Api, rt: Any) -> None:
    p = await factories.product(rt, price=2500, variants=[{"price": 2700}, {}])
    r = await api.post("/api/cart/items", json={"product_id": p.id})
    assert r.status_code == 422 and error_code(r) == "variant_required"
    v0, v1 = p.variants
    r = await api.post("/api/cart/items", json={"product_id": p.id, "variant_id": v0.id})
    r = await api.post("/api/cart/items", json={"product_id": p.id, "variant_id": v1.id})
    assert [i["unit_price"] for i in r.json()["items"]] == [2700, 2500]
    r = await api.post(
        "/api/cart/items", json={"product_id": p.id, "variant_id": "var_" + "x" * 22}
    )
    assert r.status_code == 422 and error_code(r) == "variant_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"product_id": "prod_" + "A" * 22, "quantity": 1}, 404, "product_not_found"),
        ({"product_id": "not-an-id", "quantity": 1}, 404, "product_not_found"),
        ({"product_id": "__P__", "quantity": 0}, 422, "quantity_out_of_range"),
        ({"product_id": "__P__", "quantity": 1000}, 422, "quantity_out_of_range"),
        ({"product_id": "__P__", "quantity": -3}, 422, "quantity_out_of_range"),
        ({"product_id": "__P__", "quantity": "2"}, 422, "invalid_request"),
        ({"product_id": "__P__", "quantity": 1.5}, 422, "invalid_request"),
        ({"product_id": "__P__", "price": 1}, 422, "invalid_request"),
        ({"quantity": 1}, 422, "invalid_request"),
    ],
)
async def test_bad_add_requests(
    api: Api, rt: Any, body: dict[str, Any], status: int, code: str
) -> None:
    p = await factories.product(rt)
    body = {k: (p.id if v == "__P__" else v) for k, v in body.items()}
    r = await api.post("/api/cart/items", json=body)
    assert r.status_code == status, r.text
    assert error_code(r) == code
    if code == "invalid_request":
        assert r.json()["error"]["fields"][0]["path"]


async def test_inactive_product_refused(api: Api, rt: Any) -> None:
    p = await factories.product(rt, active=False)
    r = await api.post("/api/cart/items", json={"product_id": p.id})
    assert r.status_code == 422 and error_code(r) == "product_inactive"


async def test_merged_quantity_over_limit_refused(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 998})
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
    assert r.status_code == 422 and error_code(r) == "quantity_out_of_range"
    assert (await api.get("/api/cart")).json()["items"][0]["quantity"] == 998


async def test_malformed_json_and_oversized_body(api: Api) -> None:
    r = await api.post(
        "/api/cart/items", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and error_code(r) == "malformed_json"
    r = await api.post(
        "/api/cart/items", content=b"x" * 70_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and error_code(r) == "payload_too_large"


async def test_malformed_and_foreign_item_ids(api: Api, new_api: Any, rt: Any) -> None:
    p = await factories.product(rt)
    r = await api.patch("/api/cart/items/../../etc", json={"quantity": 1})
    assert r.status_code in (404, 422)
    r = await api.patch("/api/cart/items/bogus", json={"quantity": 1})
    assert r.status_code == 404 and error_code(r) == "not_found"  # no route takes a bad id
    other: Api = await new_api()
    theirs = (await other.post("/api/cart/items", json={"product_id": p.id})).json()["items"][0][
        "id"
    ]
    r = await api.patch(f"/api/cart/items/{theirs}", json={"quantity": 5})
    assert r.status_code == 404 and error_code(r) == "item_not_found"
    r = await api.delete(f"/api/cart/items/{theirs}")
    assert r.status_code == 404
    assert (await other.get("/api/cart")).json()["items"][0]["quantity"] == 1


async def test_stale_if_match_is_412_with_current_cart(api: Api, rt: Any) -> None:
    p = await factories.product(rt)
    v = (await api.get("/api/cart")).json()["version"]
    r = await api.post("/api/cart/items", json={"product_id": p.id}, headers={"If-Match": f'"{v}"'})
    assert r.status_code == 200
    r = await api.post("/api/cart/items", json={"product_id": p.id}, headers={"If-Match": str(v)})
    assert r.status_code == 412 and error_code(r) == "version_mismatch"
    current = r.json()["error"]["details"]["current"]
    assert current["version"] == v + 1 and current["items"][0]["quantity"] == 1
    r = await api.post("/api/cart/items", json={"product_id": p.id}, headers={"If-Match": "abc"})
    assert r.status_code == 400 and error_code(r) == "invalid_if_match"


async def test_twenty_concurrent_adds_lose_nothing(api: Api, rt: Any) -> None:
    a = await factories.product(rt)
    b = await factories.product(rt)
    results = await asyncio.gather(
        *(
            api.post(
                "/api/cart/items",
                json={"product_id": (a if i % 2 else b).id, "quantity": i % 3 + 1},
            )
            for i in range(20)
        )
    )
    assert [r.status_code for r in results] == [200] * 20
    cart = (await api.get("/api/cart")).json()
    expected = sum(i % 3 + 1 for i in range(20))
    assert cart["totals"]["item_count"] == expected
    assert len(cart["items"]) == 2
    assert cart["version"] == 1 + 20
    assert sorted(r.json()["version"] for r in results) == list(range(2, 22))


async def test_price_change_is_reported_not_applied(api: Api, rt: Any) -> None:
    p = await factories.product(rt, price=1000)
    await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
    from tillpoint.catalog.models import Product

    async with rt.db.transaction() as s:
        (await s.get(Product, p.id)).price = 1200  # type: ignore[union-attr]
    cart = (await api.get("/api/cart")).json()
    line = cart["items"][0]
    assert (
        line["unit_price"] == 1000 and line["current_unit_price"] == 1200 and line["price_changed"]
    )
    assert cart["totals"]["subtotal"] == 2000
    assert cart["notices"] == [
        {
            "code": "price_changed",
            "item_id": line["id"],
            "old_unit_price": 1000,
            "new_unit_price": 1200,
        }
    ]


async def test_expired_carts_are_swept(api: Api, rt: Any, clock: Any) -> None:
    from tillpoint.cart.service import delete_expired_carts, get_cart

    p = await factories.product(rt)
    await api.post("/api/cart/items", json={"product_id": p.id})
    cart_id = api.session["cart_id"]
    assert await delete_expired_carts(rt) == 0
    clock.advance(days=31)
    assert await delete_expired_carts(rt) >= 1
    assert await get_cart(rt, cart_id) is None
