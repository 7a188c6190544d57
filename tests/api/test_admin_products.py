"""Catalog administration over HTTP (``/api/admin/products``): admin role only, create,
upsert by SKU, change, variants, list, audit; and what a shopper sees afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.runtime import Runtime

URL = "/api/admin/products"
FULL: dict[str, Any] = {
    "sku": "LAMP-01",
    "name": "Brass Desk Lamp",
    "price": 8900,
    "currency": "EUR",
    "slug": "brass-desk-lamp",
    "description": "Warm light.\nBrass and linen.",
    "compare_at_price": 9900,
    "images": ["https://img.example.com/lamp.jpg", "http://img.example.com/lamp-2.jpg"],
    "category": "home",
    "tags": ["light", "gift"],
    "weight_grams": 1800,
    "tax_category": "standard",
    "active": True,
    "metadata": {"supplier": "Acme"},
    "variants": [
        {"sku": "LAMP-01-BR", "name": "Brass", "attributes": {"finish": "brass"}},
        {"sku": "LAMP-01-BK", "name": "Black", "price": 9200, "attributes": {"finish": "black"}},
    ],
}


def _paths(r: Any) -> list[list[Any]]:
    return [f["path"] for f in r.json()["error"]["fields"]]


async def _audit(admin_api: Api, product_id: str) -> list[dict[str, Any]]:
    r = await admin_api.get(
        "/api/admin/audit-logs", params={"entity_type": "product", "entity_id": product_id}
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", URL),
        ("POST", URL),
        ("PUT", URL + "/by-sku/ABC"),
        ("GET", URL + "/prod_" + "a" * 22),
        ("PATCH", URL + "/prod_" + "a" * 22),
        ("POST", URL + "/prod_" + "a" * 22 + "/variants"),
    ],
)
async def test_guests_and_customers_cannot_manage_products(
    api: Api, user_api: Api, method: str, path: str
) -> None:
    body = None if method == "GET" else {"sku": "ABC", "name": "x", "price": 1}
    r = await api.request(method, path, json=body)
    assert r.status_code == 401 and error_code(r) == "login_required"
    r = await user_api.request(method, path, json=body)
    assert r.status_code == 403 and error_code(r) == "admin_required"


async def test_create_from_name_sku_and_price(admin_api: Api, rt: Runtime) -> None:
    r = await admin_api.post(URL, json={"sku": "MUG-1", "name": "Café Mug, Blue", "price": 1200})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    p = r.json()
    assert (p["slug"], p["currency"], p["category"], p["active"]) == (
        "cafe-mug-blue",
        rt.settings.default_currency,
        "general",
        True,
    )
    assert (p["images"], p["tags"], p["variants"], p["available"]) == ([], [], [], None)
    assert (p["compare_at_price"], p["description"], p["metadata"]) == (None, "", {})
    # A second product with the same name gets its own slug.
    r = await admin_api.post(URL, json={"sku": "MUG-2", "name": "Cafe mug blue", "price": 1})
    assert r.json()["slug"] == "cafe-mug-blue-2"


async def test_create_everything_and_read_it_back(admin_api: Api, api: Api) -> None:
    r = await admin_api.post(URL, json=FULL)
    assert r.status_code == 201, r.text
    made = r.json()
    for key in ("sku", "name", "price", "currency", "slug", "images", "tags", "metadata"):
        assert made[key] == FULL[key], key
    assert [(v["sku"], v["price"], v["position"]) for v in made["variants"]] == [
        ("LAMP-01-BR", None, 0),
        ("LAMP-01-BK", 9200, 1),
    ]
    assert (await admin_api.get(f"{URL}/{made['id']}")).json() == made
    # The shop's API shows it, the first image as image_url.
    shop = (await api.get(f"/api/products/{made['id']}")).json()
    assert (shop["image_url"], shop["images"], shop["compare_at_price"]) == (
        FULL["images"][0],
        FULL["images"],
        9900,
    )


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"price": -1}, ["price"], "invalid_request"),
        ({"price": 2**63}, ["price"], "invalid_request"),
        ({"price": "12.00"}, ["price"], "invalid_request"),
        ({"compare_at_price": 100}, ["compare_at_price"], "invalid_product"),
        ({"images": ["javascript:alert(1)"]}, ["images", 0], "invalid_request"),
        ({"images": ["ftp://x.example.com/a.jpg"]}, ["images", 0], "invalid_request"),
        ({"images": ["https://"]}, ["images", 0], "invalid_request"),
        ({"images": ["https://img.example.com/a b.png"]}, ["images", 0], "invalid_request"),
        ({"images": ["https://[::1"]}, ["images", 0], "invalid_request"),
        ({"slug": "Not A Slug"}, ["slug"], "invalid_request"),
        ({"sku": "has space"}, ["sku"], "invalid_request"),
        ({"name": ""}, ["name"], "invalid_request"),
        ({"name": "   "}, ["name"], "invalid_product"),
        ({"currency": "XXQ"}, ["currency"], "invalid_product"),
        ({"description": "x" * 20_001}, ["description"], "invalid_request"),
        ({"weight_grams": 10**12}, ["weight_grams"], "invalid_request"),
        ({"variants": [{"sku": "V", "name": "v", "price": 50, "compare_at_price": 1}]},
         ["variants", 0, "compare_at_price"], "invalid_product"),
        ({"variants": [{"sku": "LAMP-01", "name": "same as product"}]},
         ["variants", 0, "sku"], "invalid_product"),
        ({"colour": "red"}, ["colour"], "invalid_request"),
    ],
)  # fmt: skip
async def test_bad_fields_are_422_with_their_path(
    admin_api: Api, change: dict[str, Any], path: list[Any], code: str
) -> None:
    body = {"sku": "LAMP-01", "name": "Lamp", "price": 1000, **change}
    r = await admin_api.post(URL, json=body)
    assert r.status_code == 422 and error_code(r) == code, r.text
    assert path in _paths(r)


async def test_long_descriptions_and_control_characters(admin_api: Api) -> None:
    r = await admin_api.post(
        URL, json={"sku": "A1", "name": "A", "price": 1, "description": "é" * 10_000}
    )
    assert r.status_code == 201 and len(r.json()["description"]) == 10_000
    r = await admin_api.post(URL, json={"sku": "A2", "name": "Bad\u0000name", "price": 1})
    assert r.status_code == 422 and error_code(r) == "control_characters_not_allowed"
    assert _paths(r) == [["name"]]
    card = {"sku": "A3", "name": "A", "price": 1, "description": "4242 4242 4242 4242"}
    r = await admin_api.post(URL, json=card)
    assert r.status_code == 422 and error_code(r) == "card_data_not_accepted"
    # Newlines and tabs in a description are text, not control characters to refuse.
    body = {"sku": "A4", "name": "A", "price": 1, "description": "One.\n\tTwo.\r\nThree."}
    r = await admin_api.post(URL, json=body)
    assert r.status_code == 201 and r.json()["description"] == body["description"]


async def test_a_sku_is_unique_across_products_and_variants(admin_api: Api) -> None:
    assert (await admin_api.post(URL, json=FULL)).status_code == 201
    r = await admin_api.post(URL, json={"sku": "lamp-01", "name": "Other", "price": 1})
    assert r.status_code == 409 and error_code(r) == "sku_taken" and _paths(r) == [["sku"]]
    r = await admin_api.post(URL, json={"sku": "LAMP-01-BK", "name": "Other", "price": 1})
    assert r.status_code == 409 and error_code(r) == "sku_taken"
    body = {"sku": "NEW", "name": "N", "price": 1, "variants": [{"sku": "LAMP-01-BR", "name": "x"}]}
    r = await admin_api.post(URL, json=body)
    assert r.status_code == 409 and _paths(r) == [["variants", 0, "sku"]]
    r = await admin_api.post(
        URL, json={"sku": "N2", "name": "N", "price": 1, "slug": "brass-desk-lamp"}
    )
    assert r.status_code == 409 and error_code(r) == "slug_taken"


async def test_upsert_by_sku_is_idempotent(admin_api: Api, clock: MovableClock) -> None:
    url = f"{URL}/by-sku/LAMP-01"
    r = await admin_api.put(url, json=FULL)
    assert r.status_code == 201, r.text
    first = r.json()
    clock.advance(minutes=5)
    r = await admin_api.put(url, json=FULL)
    assert r.status_code == 200 and r.json() == first
    assert len(await _audit(admin_api, first["id"])) == 1
    # A change is applied and audited; variants left out are switched off.
    changed = {**FULL, "price": 9500, "variants": FULL["variants"][:1]}
    r = await admin_api.put(url, json=changed)
    assert r.status_code == 200 and r.json()["price"] == 9500
    assert r.json()["updated_at"] > first["updated_at"]
    assert [v["active"] for v in r.json()["variants"]] == [True, False]
    entries = await _audit(admin_api, first["id"])
    assert len(entries) == 2
    latest = max(entries, key=lambda e: e["timestamp"])
    assert latest["metadata"]["price"] == {"from": 8900, "to": 9500}
    r = await admin_api.put(url, json={**FULL, "sku": "OTHER"})
    assert r.status_code == 422 and error_code(r) == "sku_mismatch"


async def test_patch_changes_only_what_is_sent(admin_api: Api) -> None:
    made = (await admin_api.post(URL, json=FULL)).json()
    url = f"{URL}/{made['id']}"
    r = await admin_api.patch(url, json={"price": 9900, "tags": []})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["price"], got["tags"], got["name"], got["images"]) == (
        9900,
        [],
        FULL["name"],
        FULL["images"],
    )
    r = await admin_api.patch(url, json={"compare_at_price": None})
    assert r.status_code == 200 and r.json()["compare_at_price"] is None
    r = await admin_api.patch(url, json={"name": None})
    assert r.status_code == 422 and _paths(r) == [["name"]]
    r = await admin_api.patch(url, json={"compare_at_price": 10})
    assert r.status_code == 422 and _paths(r) == [["compare_at_price"]]
    r = await admin_api.patch(f"{URL}/prod_{'A' * 22}", json={"price": 1})
    assert r.status_code == 404 and error_code(r) == "product_not_found"
    events = sorted(e["event_type"] for e in await _audit(admin_api, made["id"]))
    assert events == ["product_created", "product_updated", "product_updated"]


async def test_variants_added_and_changed(admin_api: Api, api: Api) -> None:
    made = (await admin_api.post(URL, json={"sku": "TEE", "name": "Tee", "price": 2000})).json()
    url = f"{URL}/{made['id']}/variants"
    r = await admin_api.post(url, json={"sku": "TEE-S", "name": "S", "attributes": {"size": "S"}})
    assert r.status_code == 201, r.text
    v = r.json()
    assert (v["price"], v["position"], v["active"], v["available"]) == (None, 0, True, None)
    r = await admin_api.post(url, json={"sku": "tee-s", "name": "dup"})
    assert r.status_code == 409 and error_code(r) == "sku_taken"
    r = await admin_api.patch(f"{url}/{v['id']}", json={"price": 2200})
    assert r.status_code == 200 and r.json()["price"] == 2200
    r = await admin_api.patch(f"{url}/{v['id']}", json={"price": None, "name": "Small"})
    assert (r.json()["price"], r.json()["name"]) == (None, "Small")
    r = await admin_api.patch(f"{url}/{v['id']}", json={"sku": None})
    assert r.status_code == 422 and _paths(r) == [["sku"]]
    r = await admin_api.patch(f"{url}/var_{'A' * 22}", json={"name": "x"})
    assert r.status_code == 404 and error_code(r) == "variant_not_found"
    # A shopper now has to pick the variant.
    r = await api.post("/api/cart/items", json={"product_id": made["id"]})
    assert r.status_code == 422 and error_code(r) == "variant_required"
    events = [e["event_type"] for e in await _audit(admin_api, made["id"])]
    assert sorted(events) == ["product_created", "product_variant_added", "product_variant_updated",
                              "product_variant_updated"]  # fmt: skip


async def test_list_pages_and_filters(admin_api: Api) -> None:
    for i in range(5):
        body = {"sku": f"P-{i}", "name": f"Thing {i}", "price": 100 + i,
                "category": "odd" if i % 2 else "even", "active": i != 4}  # fmt: skip
        assert (await admin_api.post(URL, json=body)).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await admin_api.get(URL, params=params)).json()
        seen += [p["sku"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"P-{i}" for i in range(5)] and len(seen) == 5
    odd = (await admin_api.get(URL, params={"category": "odd"})).json()["items"]
    assert sorted(p["sku"] for p in odd) == ["P-1", "P-3"]
    inactive = (await admin_api.get(URL, params={"active": "false"})).json()["items"]
    assert [p["sku"] for p in inactive] == ["P-4"]
    found = (await admin_api.get(URL, params={"q": "thing 3"})).json()["items"]
    assert [p["sku"] for p in found] == ["P-3"]
    found = (await admin_api.get(URL, params={"q": "p-2"})).json()["items"]
    assert [p["sku"] for p in found] == ["P-2"]
    assert (await admin_api.get(URL, params={"q": "%"})).json()["items"] == []


async def test_available_comes_from_stock(admin_api: Api) -> None:
    made = (await admin_api.post(URL, json={"sku": "STOCKED", "name": "S", "price": 1})).json()
    r = await admin_api.put(
        f"/api/admin/inventory/{made['id']}", json={"on_hand": 7, "reason": "count"}
    )
    assert r.status_code == 200, r.text
    assert (await admin_api.get(f"{URL}/{made['id']}")).json()["available"] == 7


async def test_a_cart_keeps_its_price_and_says_it_changed(admin_api: Api, api: Api) -> None:
    made = (await admin_api.post(URL, json={"sku": "TEA", "name": "Tea", "price": 1000})).json()
    await api.post("/api/cart/items", json={"product_id": made["id"], "quantity": 2})
    r = await admin_api.patch(f"{URL}/{made['id']}", json={"price": 1300})
    assert r.status_code == 200
    cart = (await api.get("/api/cart")).json()
    line = cart["items"][0]
    assert (line["unit_price"], line["current_unit_price"], line["price_changed"]) == (
        1000,
        1300,
        True,
    )
    assert cart["totals"]["subtotal"] == 2000
    assert [n["code"] for n in cart["notices"]] == ["price_changed"]


async def test_product_page_by_slug(admin_api: Api, api: Api) -> None:
    made = (await admin_api.post(URL, json=FULL)).json()
    r = await api.client.get("/products/brass-desk-lamp")
    assert r.status_code == 200 and "Brass Desk Lamp" in r.text
    assert 'src="https://img.example.com/lamp.jpg"' in r.text
    assert 'data-product-id="' + made["id"] + '"' in r.text
    shop = await api.client.get("/")
    assert 'href="/products/brass-desk-lamp"' in shop.text
    await admin_api.patch(f"{URL}/{made['id']}", json={"active": False})
    assert (await api.client.get("/products/brass-desk-lamp")).status_code == 404
    assert (await api.client.get("/products/no-such-thing")).status_code == 404


async def _insert_legacy_product(rt: Runtime) -> None:
    # Rows written outside tillpoint carry their own ids, not ours (``prod_`` + 22).
    async with rt.db.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO products (id, sku, slug, name, description, category, tags, price,"
                " currency, weight_grams, tax_category, image_url, active, metadata)"
                " VALUES ('legacy-42', 'LEG-42', 'legacy-42', 'Legacy', '', 'general', '[]',"
                " 700, :cur, 10, 'standard', 'https://img.example.com/l.png', true, '{}')"
            ),
            {"cur": rt.settings.default_currency},
        )


async def test_a_product_inserted_by_sql_has_a_page_and_sells(api: Api, rt: Runtime) -> None:
    await _insert_legacy_product(rt)
    assert (await api.get("/api/products/legacy-42")).json()["image_url"].endswith("/l.png")
    r = await api.post("/api/cart/items", json={"product_id": "legacy-42"})
    assert r.status_code in (200, 201), r.text
    assert (await api.client.get("/products/legacy-42")).status_code == 200


async def test_a_product_inserted_by_sql_takes_stock_through_the_api(
    admin_api: Api, rt: Runtime
) -> None:
    await _insert_legacy_product(rt)
    body = {"on_hand": 7, "reason": "first count"}
    r = await admin_api.put("/api/admin/inventory/legacy-42", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["sku"], r.json()["on_hand"]) == ("LEG-42", 7)
    assert (await admin_api.get(f"{URL}/legacy-42")).json()["available"] == 7


async def test_factory_products_are_listed_for_admins(admin_api: Api, rt: Runtime) -> None:
    p = await factories.product(rt, price=500, image_url="https://img.example.com/a.png")
    got = (await admin_api.get(f"{URL}/{p.id}")).json()
    assert got["images"] == ["https://img.example.com/a.png"]


async def test_the_schema_says_which_patch_fields_may_be_null(admin_api: Api) -> None:
    spec = (await admin_api.get("/openapi.json")).json()
    props = spec["components"]["schemas"]["ProductPatch"]["properties"]
    for name in ("sku", "name", "price", "slug", "images", "tags", "active", "metadata"):
        assert "null" not in str(props[name]), (name, props[name])
    assert {"type": "null"} in props["compare_at_price"]["anyOf"]
    assert "maximum" in str(props["price"]) and "pattern" in str(props["slug"])
    variant = spec["components"]["schemas"]["VariantPatch"]["properties"]
    assert {"type": "null"} in variant["price"]["anyOf"] and "null" not in str(variant["sku"])
