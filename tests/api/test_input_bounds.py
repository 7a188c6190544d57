"""Every integer a request may carry has documented bounds, and a number past them (or
past 64 bits) is a 422 with its field path, never a database overflow (500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.support import Api, error_code
from tillpoint.runtime import Runtime


def _integers(
    schema: dict[str, Any],
    spec: dict[str, Any],
    at: tuple[Any, ...],
    seen: frozenset[str] = frozenset(),
) -> list[Any]:
    """(path, schema) of every integer in ``schema``, at any depth (a recursive component
    is walked once)."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return []
        name = ref.rsplit("/", 1)[-1]
        return _integers(spec["components"]["schemas"][name], spec, at, seen | {ref})
    found = []
    if schema.get("type") == "integer":
        found.append((at, schema))
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _integers(option, spec, at, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _integers(sub, spec, (*at, name), seen)
    if isinstance(schema.get("items"), dict):
        found += _integers(schema["items"], spec, (*at, 0), seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _integers(schema["additionalProperties"], spec, (*at, "k"), seen)
    return found


async def test_every_integer_a_request_may_carry_has_documented_bounds(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    unbounded = []
    count = 0
    for url, ops in spec["paths"].items():
        for method, op in ops.items():
            found = []
            for param in op.get("parameters", []):
                found += _integers(param["schema"], spec, (param["in"], param["name"]))
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                found += _integers(body["schema"], spec, ("body",))
            for path, schema in found:
                count += 1
                low = "minimum" in schema or "exclusiveMinimum" in schema
                high = "maximum" in schema or "exclusiveMaximum" in schema
                if not (low and high) or schema.get("maximum", 0) > 2**31 - 1:
                    unbounded.append((method.upper(), url, path, schema))
    assert count > 20
    assert not unbounded, "\n".join(map(str, unbounded))


async def test_a_64_bit_quantity_is_refused_with_its_path(api: Api, rt: Runtime) -> None:
    p = await factories.product(rt)
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2**63})
    assert r.status_code == 422 and error_code(r) == "quantity_out_of_range", r.text
    assert r.json()["error"]["fields"][0]["path"] == ["quantity"]
    r = await api.post("/api/cart/items", json={"product_id": p.id})
    item = r.json()["items"][0]["id"]
    r = await api.patch(f"/api/cart/items/{item}", json={"quantity": 2**63})
    assert r.status_code == 422 and error_code(r) == "quantity_out_of_range", r.text
    assert r.json()["error"]["fields"][0]["path"] == ["quantity"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"on_hand": 2**63, "reason": "count"}, ["on_hand"]),
        ({"delta": 2**63, "reason": "count"}, ["delta"]),
        ({"on_hand": 1, "low_stock_threshold": 2**63, "reason": "count"}, ["low_stock_threshold"]),
    ],
)
async def test_a_64_bit_stock_level_is_refused_with_its_path(
    admin_api: Api, rt: Runtime, body: dict[str, Any], path: list[str]
) -> None:
    p = await factories.product(rt)
    r = await admin_api.put(f"/api/admin/inventory/{p.id}", json=body)
    assert r.status_code == 422, r.text
    assert path in [f["path"] for f in r.json()["error"]["fields"]], r.text


async def test_a_64_bit_refund_is_refused_with_its_path(admin_api: Api) -> None:
    r = await admin_api.post(
        "/api/admin/orders/ord_0000000000000000000000/refunds", json={"amount": 2**63}
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["amount"], r.text
