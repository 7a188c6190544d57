"""The OpenAPI schema and the answers agree: typed paths route to their one operation, a
wrong method answers 405 with every allowed method, malformed ids are 404, and headers
are accepted exactly as documented."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.support import Api, error_code, path_example

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _concrete(url: str, ops: dict[str, Any]) -> str:
    for op in ops.values():
        for param in op.get("parameters", []):
            if param["in"] == "path":
                url = url.replace("{" + param["name"] + "}", path_example(param["schema"]))
    return url


def test_every_api_route_routes_by_its_typed_path(app: Any) -> None:
    from tillpoint.web.routing import TypedPathRoute

    routes = [c.original_route for c in iter_route_contexts(app.routes)]
    api_routes = [r for r in routes if isinstance(r, APIRoute)]
    assert len(api_routes) > 50
    assert [r.path for r in api_routes if not isinstance(r, TypedPathRoute)] == []


async def test_every_path_answers_405_with_exactly_its_methods(admin_api: Api, app: Any) -> None:
    spec = app.openapi()
    wrong = []
    for url, ops in spec["paths"].items():
        documented = {m.upper() for m in ops}
        target = _concrete(url, ops)
        for method in METHODS:
            if method in documented:
                continue
            r = await admin_api.request(method, target)
            allowed = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
            if r.status_code != 405 or allowed != documented:
                wrong.append((method, url, r.status_code, sorted(allowed), sorted(documented)))
    assert not wrong, "\n".join(map(str, wrong))


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("GET", "/api/inventory/reservations", "POST"),
        ("GET", "/api/inventory/webhook", "POST"),
        ("PATCH", "/api/admin/coupons/bulk", "POST"),
        ("PUT", "/api/cart", "DELETE, GET"),
        ("OPTIONS", "/api/cart/items/item_" + "A" * 22, "DELETE, PATCH"),
    ],
)
async def test_a_literal_segment_is_not_taken_for_an_id(
    admin_api: Api, method: str, url: str, allow: str
) -> None:
    r = await admin_api.request(method, url)
    assert r.status_code == 405 and error_code(r) == "method_not_allowed", r.text
    assert r.headers["allow"] == allow


@pytest.mark.parametrize(
    "url",
    [
        "/api/checkout/nope",
        "/api/products/4111111111111111",
        "/api/inventory/prod_short",
        "/api/orders/ord_" + "!" * 22,
    ],
)
async def test_a_malformed_id_is_not_found(api: Api, url: str) -> None:
    r = await api.get(url)
    assert r.status_code == 404 and error_code(r) == "not_found", r.text


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


async def test_every_reference_in_the_schema_resolves(app: Any) -> None:
    # A PATCH field's schema once carried its own $defs, leaving #/$defs/EventType dangling.
    spec = app.openapi()
    components = spec["components"]["schemas"]
    refs = _refs(spec)
    assert refs
    dangling = sorted(
        {r for r in refs if not r.startswith("#/components/schemas/")}
        | {r for r in refs if r.removeprefix("#/components/schemas/") not in components}
    )
    assert not dangling, dangling


async def test_if_match_is_documented_as_what_is_accepted(api: Api, app: Any) -> None:
    spec = app.openapi()
    params = spec["paths"]["/api/cart/items"]["post"]["parameters"]
    (if_match,) = [p for p in params if p["name"] == "if-match"]
    schema = if_match["schema"]
    assert schema["type"] == "string" and "null" not in str(schema)
    pattern = re.compile(schema["pattern"])
    version = (await api.get("/api/cart")).json()["version"]
    for form in ["*", "{}", '"{}"', 'W/"{}"']:
        value = form.format(version)
        assert pattern.search(value), value
        r = await api.delete("/api/cart", headers={"If-Match": value})
        assert r.status_code == 200, (value, r.text)
        version = r.json()["version"]
    for value in ["null", "", "abc", "1, 2"]:
        assert not pattern.search(value), value
        r = await api.delete("/api/cart", headers={"If-Match": value})
        assert r.status_code == 400 and error_code(r) == "invalid_if_match", (value, r.text)


COUPON = {
    "code": "ISO1",
    "type": "percentage",
    "value": 1000,
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2099-01-01T00:00:00Z",
}


async def test_dates_are_iso_text_as_documented_not_unix_times(admin_api: Api, rt: Any) -> None:
    from tests import factories

    r = await admin_api.get("/api/admin/audit-logs", params={"until": "0.5"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["query", "until"]
    r = await admin_api.post("/api/admin/coupons", json={**COUPON, "start_date": 0})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["start_date"]
    p = await factories.product(rt)
    body = {"reason": "restock", "restock_date": 0}
    r = await admin_api.put(f"/api/admin/inventory/{p.id}", json=body)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["restock_date"]
    body["restock_date"] = "2026-02-01"
    assert (await admin_api.put(f"/api/admin/inventory/{p.id}", json=body)).status_code == 200


@pytest.mark.parametrize("key", [" ", "", "two words", "ключ"])
async def test_an_idempotency_key_is_visible_ascii_as_documented(admin_api: Api, key: str) -> None:
    r = await admin_api.post(
        "/api/admin/orders/ord_" + "A" * 22 + "/refunds",
        json={},
        headers={"Idempotency-Key": key.encode()},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["path"] == ["header", "Idempotency-Key"]


async def test_an_unknown_order_cursor_is_refused_with_its_path(user_api: Api) -> None:
    for cursor in ["", "ord_" + "A" * 22]:
        r = await user_api.get("/api/orders", params={"cursor": cursor})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"][0]["path"] == ["query", "cursor"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "sandbox_webhook_secret": "whsec_contract_0000000000",
        "inventory_webhook_secret": "inventory-contract-secret-0000",
    }


async def test_signed_webhooks_document_their_credential_and_refuse_a_bad_one_with_401(
    api: Api, app: Any
) -> None:
    spec = app.openapi()
    stripe_op = spec["paths"]["/api/webhooks/stripe"]["post"]
    inventory_op = spec["paths"]["/api/inventory/webhook"]["post"]
    assert stripe_op["security"] == [{"StripeSignature": []}]
    assert inventory_op["security"] == [{"InventorySignature": []}]
    required = {p["name"] for p in inventory_op["parameters"] if p["required"]}
    assert required == {"x-inventory-timestamp", "x-inventory-delivery"}
    r = await api.post("/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1"})
    assert r.status_code == 401 and "401" in stripe_op["responses"], r.text
    headers = {
        "x-inventory-timestamp": "1",
        "x-inventory-delivery": "d-1",
        "x-inventory-signature": "sha256=00",
    }
    r = await api.post("/api/inventory/webhook", content=b"{}", headers=headers)
    assert r.status_code == 401 and "401" in inventory_op["responses"], r.text


def test_every_link_points_at_an_operation_and_its_parameters(app: Any) -> None:
    spec = app.openapi()
    links = [
        link
        for ops in spec["paths"].values()
        for op in ops.values()
        for answer in op["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) >= 10
    for link in links:
        pointer = link["operationRef"].removeprefix("#/paths/")
        path, method = pointer.rsplit("/", 1)
        path = path.replace("~1", "/").replace("%7B", "{").replace("%7D", "}").replace("~0", "~")
        target = spec["paths"][path][method]
        names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) <= names, (path, method, link)
