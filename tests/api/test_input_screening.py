"""Every string the API accepts is screened in one place, at any depth: card numbers,
control characters (NUL, ANSI escapes, bidi overrides) and nesting beyond the limit are
refused with 422, the code and the field path, before any handler or database sees them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from tests import factories
from tests.support import Api, error_code, path_example
from tillpoint.runtime import Runtime

PAN = "4111 1111 1111 1111"
CONTROL = ["nul\x00byte", "\x1b[31mred\x1b[0m", "abc\u202egnp.exe", "C1\x85next", "iso\u2066late"]
GUEST = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street1": "350 Fifth Avenue",
    "street2": "Floor 3",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "country": "US",
    "phone": "+1 212 555 0100",
}


async def _checkout_at_guest_info(api: Api, rt: Runtime) -> str:
    product = await factories.product(rt, price=1500)
    assert (await api.post("/api/cart/items", json={"product_id": product.id})).status_code == 200
    cid = str((await api.post("/api/checkout")).json()["id"])
    r = await api.post(f"/api/checkout/{cid}/events", json={"type": "SELECT_GUEST"})
    assert r.status_code == 200, r.text
    return cid


async def _stored_checkouts(rt: Runtime) -> str:
    async with rt.db.transaction() as s:
        rows = (await s.execute(text("SELECT context FROM checkouts"))).all()
    return " ".join(str(row[0]) for row in rows)


def _refused(r: Any, code: str, path: list[Any]) -> None:
    assert r.status_code == 422, r.text
    assert error_code(r) == code, r.text
    assert path in [f["path"] for f in r.json()["error"]["fields"]], r.text
    assert "4111" not in r.text


@pytest.mark.parametrize("field", ["first_name", "last_name", "phone"])
async def test_a_card_number_in_guest_info_is_refused_and_never_stored(
    api: Api, rt: Runtime, field: str
) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    body = {"type": "SUBMIT_GUEST_INFO", **GUEST, field: PAN}
    r = await api.post(f"/api/checkout/{cid}/events", json=body)
    _refused(r, "card_data_not_accepted", [field])
    assert "4111" not in await _stored_checkouts(rt)


@pytest.mark.parametrize("field", [f for f in ADDRESS if f != "country"])
async def test_a_card_number_in_any_address_field_is_refused_and_never_stored(
    api: Api, rt: Runtime, field: str
) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    r = await api.post(f"/api/checkout/{cid}/events", json={"type": "SUBMIT_GUEST_INFO", **GUEST})
    assert r.status_code == 200, r.text
    address = {**ADDRESS, field: PAN.replace(" ", "-")}
    r = await api.post(
        f"/api/checkout/{cid}/events", json={"type": "SUBMIT_SHIPPING", "address": address}
    )
    _refused(r, "card_data_not_accepted", ["address", field])
    assert "4111" not in await _stored_checkouts(rt)


@pytest.mark.parametrize("value", CONTROL)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_control_characters_in_guest_info_are_refused(
    api: Api, rt: Runtime, field: str, value: str
) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    body = {"type": "SUBMIT_GUEST_INFO", **GUEST, field: value}
    r = await api.post(f"/api/checkout/{cid}/events", json=body)
    _refused(r, "control_characters_not_allowed", [field])


@pytest.mark.parametrize("value", CONTROL)
async def test_control_characters_in_an_address_are_refused(
    api: Api, rt: Runtime, value: str
) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    await api.post(f"/api/checkout/{cid}/events", json={"type": "SUBMIT_GUEST_INFO", **GUEST})
    r = await api.post(
        f"/api/checkout/{cid}/events",
        json={"type": "SUBMIT_SHIPPING", "address": {**ADDRESS, "street1": value}},
    )
    _refused(r, "control_characters_not_allowed", ["address", "street1"])


async def test_a_line_break_in_a_name_is_refused_but_free_text_may_have_one(
    api: Api, admin_api: Api, rt: Runtime
) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    body = {"type": "SUBMIT_GUEST_INFO", **GUEST, "last_name": "Love\nlace"}
    r = await api.post(f"/api/checkout/{cid}/events", json=body)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == ["last_name"]
    product = await factories.product(rt)
    r = await admin_api.put(
        f"/api/admin/inventory/{product.id}", json={"reason": "Recount.\n\tShelf 3.", "delta": 1}
    )
    assert r.status_code == 200, r.text


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


COUPON = {
    "code": "DEEP1",
    "type": "percentage",
    "value": 1000,
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2099-01-01T00:00:00Z",
}


@pytest.mark.parametrize("leaf", [PAN, "plain"])
async def test_metadata_nested_beyond_the_limit_is_refused_not_skipped(
    admin_api: Api, leaf: str
) -> None:
    r = await admin_api.post("/api/admin/coupons", json={**COUPON, "metadata": _nested(12, leaf)})
    assert r.status_code == 422 and error_code(r) == "nesting_too_deep", r.text
    assert r.json()["error"]["fields"][0]["path"][:2] == ["metadata", "a"]
    assert "4111" not in r.text


async def test_a_card_number_inside_nested_metadata_is_refused(admin_api: Api) -> None:
    r = await admin_api.post("/api/admin/coupons", json={**COUPON, "metadata": _nested(5, PAN)})
    _refused(r, "card_data_not_accepted", ["metadata", "a", "a", "a", "a", "a"])
    r = await admin_api.post(
        "/api/admin/coupons", json={**COUPON, "metadata": {"ids": [1, 4111111111111111]}}
    )
    _refused(r, "card_data_not_accepted", ["metadata", "ids", 1])


@pytest.mark.parametrize(
    "url, path",
    [
        ("/api/products?category=%00", ["query", "category"]),
        ("/api/products?cursor=prd_%00", ["query", "cursor"]),
        ("/api/admin/coupons?cursor=%00", ["query", "cursor"]),
        ("/api/admin/inventory?cursor=a%00b", ["query", "cursor"]),
        ("/api/admin/audit-logs?entity_id=a%1b", ["query", "entity_id"]),
        ("/api/orders?cursor=%E2%80%AE", ["query", "cursor"]),
    ],
)
async def test_nul_and_controls_in_query_and_path_never_reach_the_database(
    admin_api: Api, url: str, path: list[str]
) -> None:
    r = await admin_api.get(url)
    assert r.status_code == 422, r.text
    assert error_code(r) == "control_characters_not_allowed"
    assert r.json()["error"]["fields"][0]["path"] == path


@pytest.mark.parametrize("cursor", [PAN, "4111111111111111"])
async def test_a_sku_cursor_is_screened_for_card_numbers_like_any_identifier(
    admin_api: Api, cursor: str
) -> None:
    """The low-stock list's cursor is a SKU, not one of our opaque tokens."""
    r = await admin_api.get("/api/admin/inventory", params={"cursor": cursor})
    _refused(r, "card_data_not_accepted", ["query", "cursor"])


async def test_a_control_character_in_an_id_never_routes(api: Api) -> None:
    r = await api.get("/api/products/prod_%00x")
    assert r.status_code == 404 and error_code(r) == "not_found"


async def test_a_line_break_in_a_query_value_is_refused(api: Api) -> None:
    r = await api.get("/api/products", params={"category": "shirts\r\nX-Injected: 1"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["path"] == [
        "query",
        "category",
    ]


async def test_a_card_number_in_a_declared_header_is_refused(admin_api: Api, rt: Runtime) -> None:
    r = await admin_api.post(
        "/api/admin/orders/ord_0000000000000000000000/refunds",
        json={},
        headers={"Idempotency-Key": PAN},
    )
    _refused(r, "card_data_not_accepted", ["header", "Idempotency-Key"])


async def test_a_phone_number_is_still_a_phone_number(api: Api, rt: Runtime) -> None:
    cid = await _checkout_at_guest_info(api, rt)
    body = {"type": "SUBMIT_GUEST_INFO", **GUEST, "phone": "+44 20 7946 0958"}
    r = await api.post(f"/api/checkout/{cid}/events", json=body)
    assert r.status_code == 200, r.text


# --- every route, every string-bearing input ---------------------------------------------

Path = tuple[str | int, ...]


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _string_paths(
    schema: dict[str, Any], spec: dict[str, Any], at: Path, seen: int = 0
) -> set[Path]:
    """JSON paths to every place a string may stand in ``schema`` (dict values under a
    made-up key ``k``, list items at index 0)."""
    schema = _resolve(schema, spec)
    if seen > 8:
        return set()
    found: set[Path] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found |= _string_paths(option, spec, at, seen + 1)
    kind = schema.get("type")
    shaped = ("type", "anyOf", "oneOf", "allOf", "properties", "enum", "const")
    if kind == "string" or "string" in (kind or []) or not any(k in schema for k in shaped):
        found.add(at)
    for name, sub in schema.get("properties", {}).items():
        found |= _string_paths(sub, spec, (*at, name), seen + 1)
    extra = schema.get("additionalProperties")
    if extra is True or isinstance(extra, dict):
        found |= _string_paths(extra if extra is not True else {}, spec, (*at, "k"), seen + 1)
    if kind == "array" and isinstance(schema.get("items"), dict):
        found |= _string_paths(schema["items"], spec, (*at, 0), seen + 1)
    return found


def _placed(path: Path, value: Any) -> Any:
    for step in reversed(path):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), url, op)
        for url, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _filled(url: str, op: dict[str, Any], name: str | None, value: str) -> str:
    for param in op.get("parameters", []):
        if param["in"] == "path":
            slot = "{" + param["name"] + "}"
            fits = path_example(param["schema"])
            url = url.replace(slot, quote(value, safe="") if param["name"] == name else fits)
    return url


def _inputs(spec: dict[str, Any]) -> list[tuple[str, str, str, Path, bool]]:
    cases = []
    for method, url, op in _operations(spec):
        if op.get("security"):
            # The signed webhooks read their raw body and headers themselves, after the
            # signature: test_inventory_api's refusal cases and test_webhooks cover them.
            continue
        for param in op.get("parameters", []):
            if "string" in str(param.get("schema")):
                opaque = bool(param["schema"].get("x-opaque-token"))
                cases.append((method, url, param["in"], (param["in"], param["name"]), opaque))
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            for path in _string_paths(body["schema"], spec, ()):
                cases.append((method, url, "body", path, False))
    return cases


@pytest.mark.parametrize("bad", ["4111-1111-1111-1111", "nul\x00", "\u202eevil"])
async def test_every_string_input_of_every_route_is_screened(
    admin_api: Api, app: Any, bad: str
) -> None:
    spec = app.openapi()
    cases = _inputs(spec)
    assert len(cases) > 100  # the walk really reaches nested body fields
    misses = []
    for method, url, where, path, opaque in cases:
        if opaque and bad.startswith("4111"):
            continue  # our own cursors and tokens: control characters only (next test)
        kw: dict[str, Any] = {}
        name = str(path[1]) if where in {"query", "path", "header"} else None
        if where == "query":
            kw["params"] = {name: bad}
        elif where == "header":
            kw["headers"] = {name: bad.encode()}
        elif where == "body":
            kw["json"] = _placed(path, bad)
        op = spec["paths"][url][method.lower()]
        target = _filled(url, op, name if where == "path" else None, bad)
        r = await admin_api.request(method, target, **kw)
        want = list(path) if where == "body" else [where, name]
        fields = [f["path"] for f in r.json()["error"]["fields"]] if r.status_code == 422 else []
        routed_away = where == "path" and r.status_code == 404
        if not (routed_away or want in fields) or "4111" in r.text:
            misses.append((method, url, want, r.status_code, r.text[:120]))
    assert not misses, "\n".join(map(str, misses))


async def test_a_nul_in_the_user_agent_never_reaches_the_database(app: Any, rt: Runtime) -> None:
    # Real HTTP servers refuse NUL in headers; an in-process or lenient front end may not.
    # The user agent is evidence we record (sessions, audit), not input we refuse.
    agent = b"evil\x00agent \x1b[2J\xe2\x80\xae"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get("/api/session", headers={"user-agent": agent})
        assert r.status_code == 200, r.text
        r = await client.post("/api/cart/items%00", json={}, headers={"user-agent": agent})
        assert r.status_code == 403 and error_code(r) == "csrf_failed"
    async with rt.db.transaction() as s:
        agents = (await s.execute(text("SELECT user_agent FROM guest_sessions"))).scalars().all()
        audited = (
            await s.execute(
                text("SELECT user_agent, metadata FROM audit_logs WHERE event_type = 'csrf_failed'")
            )
        ).all()
    assert [a.startswith("evil") for a in agents] == [True]
    assert len(audited) == 1 and audited[0][0].startswith("evil")
    for stored in [*agents, str(audited[0])]:
        assert "\x00" not in stored and "\x1b" not in stored and "\u202e" not in stored


async def test_our_own_cursors_and_tokens_are_not_mistaken_for_card_numbers(
    admin_api: Api,
) -> None:
    # An audit cursor is <µs>.<chain>.<seq>: sixteen digits that pass Luhn one time in ten.
    r = await admin_api.get("/api/admin/audit-logs", params={"cursor": "4111111111111111.1.1"})
    assert r.status_code == 200, r.text
    r = await admin_api.get("/api/orders/ord_" + "A" * 22, params={"token": "4111111111111111"})
    assert r.status_code == 404 and error_code(r) == "order_not_found", r.text
    # A stream's Last-Event-ID is a millisecond timestamp: thirteen digits, Luhn-valid one
    # time in ten (this one is). The stream answers on the product ids, not on the header.
    r = await admin_api.get(
        "/api/inventory/stream",
        params={"product_ids": "no pe"},
        headers={"Last-Event-ID": "1733600000009"},
    )
    assert r.status_code == 422 and error_code(r) == "invalid_product_ids", r.text
    # A client's UUID idempotency key: its digit groups are Luhn-valid one time in 460.
    r = await admin_api.post(
        "/api/admin/orders/ord_" + "A" * 22 + "/refunds",
        json={"amount": 100},
        headers={"Idempotency-Key": "8a707051-8433-4690-8e11-57bf6b0446e1"},
    )
    assert r.status_code == 404 and error_code(r) == "order_not_found", r.text
    r = await admin_api.post(
        "/api/admin/orders/ord_" + "A" * 22 + "/refunds",
        json={"amount": 100},
        headers={"Idempotency-Key": "8a707051-8433-4690-8e11"},  # not a UUID,
    )
    assert r.status_code == 422 and error_code(r) == "card_data_not_accepted", r.text
    r = await admin_api.get("/api/admin/audit-logs", params={"cursor": "1\u202e.1.1"})
    assert r.status_code == 422 and error_code(r) == "control_characters_not_allowed"
