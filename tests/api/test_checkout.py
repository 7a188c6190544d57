from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

GUEST = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+1 212 555 0100",
}
NY = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street1": "350 Fifth Avenue",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "country": "US",
}
BERLIN = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street1": "Unter den Linden 1",
    "city": "Berlin",
    "zip_code": "10117",
    "country": "DE",
}
CARD = {"type": "card", "payment_method_id": "pm_card_visa"}


async def fill_cart(api: Api, rt: Runtime, price: int = 2000, qty: int = 2) -> Any:
    p = await factories.product(rt, price=price, weight_grams=400)
    r = await api.post("/api/cart/items", json={"product_id": p.id, "quantity": qty})
    assert r.status_code == 200, r.text
    return p


async def start(api: Api) -> dict[str, Any]:
    r = await api.post("/api/checkout")
    assert r.status_code == 201, r.text
    return dict(r.json())


async def send(api: Api, cid: str, type_: str, **fields: Any) -> Any:
    return await api.post(f"/api/checkout/{cid}/events", json={"type": type_, **fields})


async def to_state(api: Api, cid: str, state: str, address: dict[str, Any] = NY) -> dict[str, Any]:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("SELECT_GUEST", {}),
        ("SUBMIT_GUEST_INFO", GUEST),
        ("SUBMIT_SHIPPING", {"address": address}),
        ("USE_SHIPPING_ADDRESS", {}),
    ]
    body: dict[str, Any] = {}
    for type_, fields in steps:
        r = await send(api, cid, type_, **fields)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] == state:
            return body
    options = (await api.get(f"/api/checkout/{cid}/shipping-options")).json()["items"]
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id=options[0]["id"])
    assert r.status_code == 200, r.text
    if r.json()["state"] == state:
        return dict(r.json())
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == state
    return dict(r.json())


async def test_guest_path_to_order_review_with_exact_totals(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt, price=2000, qty=2)
    co = await start(api)
    assert co["state"] == "user_identification"
    assert co["version"] == 1
    assert set(co["allowed_events"]) == {"SELECT_GUEST", "SELECT_REGISTERED", "LOGIN_REQUIRED"}
    assert co["context"]["totals"]["subtotal"] == 4000
    assert co["context"]["totals"]["tax_calculated"] is False
    cid = co["id"]

    r = await send(api, cid, "SELECT_GUEST")
    assert r.json()["state"] == "guest_info" and r.json()["context"]["user_type"] == "guest"
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **GUEST)
    body = r.json()
    assert body["state"] == "shipping_address"
    assert body["context"]["guest_info"] == {
        **GUEST,
        "phone": "+12125550100",
        "marketing_consent": False,
    }
    r = await send(api, cid, "SUBMIT_SHIPPING", address={**NY, "state": "new york"})
    body = r.json()
    assert body["state"] == "billing_address"
    assert body["context"]["shipping_address"]["state"] == "NY"
    assert body["context"]["address_validation"]["is_valid"] is True
    r = await send(api, cid, "USE_SHIPPING_ADDRESS")
    body = r.json()
    assert body["state"] == "shipping_method"
    assert body["context"]["billing_address"] == body["context"]["shipping_address"]

    r = await api.get(f"/api/checkout/{cid}/shipping-options")
    assert r.status_code == 200
    options = {o["id"]: o for o in r.json()["items"]}
    assert set(options) == {"us:ground", "us:two_day", "us:next_day"}
    assert options["us:ground"]["cost"] == 599 and options["us:ground"]["estimate"]["earliest"]
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="us:two_day")
    assert r.json()["state"] == "payment_method"
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    body = r.json()
    assert body["state"] == "order_review"
    assert body["context"]["payment_method"] == CARD
    t = body["context"]["totals"]
    # NY 4 %: 4000 -> 160; shipping 1499 taxed -> 59.96 -> 60
    assert (t["subtotal"], t["shipping"], t["tax"], t["discount"]) == (4000, 1499, 220, 0)
    assert t["total"] == 4000 + 1499 + 220
    assert t["total"] == sum(x["total"] for x in t["lines"]) + t["shipping_line"]["total"]
    assert set(body["allowed_events"]) == {
        "CONFIRM_ORDER",
        "EDIT_CONTACT",
        "EDIT_SHIPPING",
        "EDIT_BILLING",
        "EDIT_PAYMENT",
    }

    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["context"]["totals"] == t and got["version"] == body["version"]


async def test_tax_inclusive_checkout_to_germany(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt, price=11900, qty=1)
    co = await start(api)
    body = await to_state(api, co["id"], "order_review", address=BERLIN)
    t = body["context"]["totals"]
    assert t["tax_inclusive"] is True
    ship = t["shipping"]
    assert t["total"] == 11900 + ship
    assert t["lines"][0]["tax"] == 1900


async def test_not_allowed_events_answer_409_with_allowed_events(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and error_code(r) == "event_not_allowed"
    assert set(r.json()["error"]["details"]["allowed_events"]) == {
        "SELECT_GUEST",
        "SELECT_REGISTERED",
        "LOGIN_REQUIRED",
    }
    r = await send(api, cid, "SUBMIT_SHIPPING", address=NY)
    assert r.status_code == 409


@pytest.mark.parametrize(
    "event",
    ["PAYMENT_SUCCESS", "PAYMENT_FAILURE", "PAYMENT_REQUIRES_ACTION", "PAYMENT_REFUNDED", "EXPIRE"],
)
async def test_clients_cannot_send_server_events(api: Api, rt: Runtime, event: str) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    r = await send(api, cid, event)
    assert r.status_code == 403 and error_code(r) == "server_event_forbidden"


async def test_registered_guard_without_login_is_422(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    r = await send(api, cid, "SELECT_REGISTERED")
    assert r.status_code == 422 and error_code(r) == "not_authenticated"
    assert r.json()["error"]["details"]["guard"] == "isAuthenticated"
    r = await send(api, cid, "LOGIN_REQUIRED")
    assert r.json()["state"] == "auth_redirect"
    r = await send(api, cid, "LOGIN_SUCCEEDED")
    assert r.status_code == 422 and error_code(r) == "not_authenticated"
    r = await send(api, cid, "SELECT_GUEST")
    assert r.json()["state"] == "guest_info"


async def test_empty_cart_cannot_start_checkout(api: Api) -> None:
    r = await api.post("/api/checkout")
    assert r.status_code == 422 and error_code(r) == "cart_empty"


async def test_starting_twice_returns_the_live_checkout(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    first = await start(api)
    r = await api.post("/api/checkout")
    assert r.status_code == 200 and r.json()["id"] == first["id"]


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({**GUEST, "email": "nope"}, ["email"], "email_invalid"),
        ({**GUEST, "email": "a@b"}, ["email"], "email_invalid"),
        ({**GUEST, "email": "x" * 321}, ["email"], "string_too_long"),
        ({**GUEST, "first_name": ""}, ["first_name"], "string_too_short"),
        ({**GUEST, "last_name": "x" * 51}, ["last_name"], "string_too_long"),
        ({**GUEST, "phone": "+1 555 0000"}, ["phone"], "phone_invalid"),
        ({**GUEST, "phone": "call me"}, ["phone"], "string_pattern_mismatch"),
        ({**GUEST, "marketing_consent": "yes"}, ["marketing_consent"], "bool_type"),
        ({**GUEST, "admin": True}, ["admin"], "extra_forbidden"),
        ({k: v for k, v in GUEST.items() if k != "email"}, ["email"], "missing"),
    ],
)
async def test_invalid_guest_info(
    api: Api, rt: Runtime, fields: dict[str, Any], path: list[str], code: str
) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await send(api, cid, "SELECT_GUEST")
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **fields)
    assert r.status_code == 422, r.text
    assert {"path": path, "code": code} in [
        {"path": f["path"], "code": f["code"]} for f in r.json()["error"]["fields"]
    ]


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"zip_code": "1234"}, ["address", "zip_code"], "postal_code_invalid"),
        ({"zip_code": "90210"}, ["address", "zip_code"], "postal_code_region_mismatch"),
        ({"zip_code": ""}, ["address", "zip_code"], "required"),
        ({"state": "QQ"}, ["address", "state"], "region_invalid"),
        ({"state": ""}, ["address", "state"], "required"),
        ({"country": "XX"}, ["address", "country"], "country_invalid"),
        ({"country": "USA"}, ["address", "country"], "string_pattern_mismatch"),
        ({"first_name": ""}, ["address", "first_name"], "string_too_short"),
        ({"last_name": "x" * 51}, ["address", "last_name"], "string_too_long"),
        ({"street1": ""}, ["address", "street1"], "string_too_short"),
        ({"street2": "x" * 201}, ["address", "street2"], "string_too_long"),
        ({"city": ""}, ["address", "city"], "string_too_short"),
        ({"phone": "+1 555 0000"}, ["address", "phone"], "phone_invalid"),
        ({"planet": "Mars"}, ["address", "planet"], "extra_forbidden"),
    ],
)
async def test_invalid_addresses(
    api: Api, rt: Runtime, changes: dict[str, Any], path: list[str], code: str
) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "shipping_address")
    r = await send(api, cid, "SUBMIT_SHIPPING", address={**NY, **changes})
    assert r.status_code == 422, r.text
    assert {"path": path, "code": code} in [
        {"path": f["path"], "code": f["code"]} for f in r.json()["error"]["fields"]
    ]
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "shipping_address"


async def test_unoffered_shipping_and_bad_payment_methods(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "shipping_method", address=BERLIN)
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="us:ground")
    assert r.status_code == 422 and error_code(r) == "shipping_method_not_offered"
    assert r.json()["error"]["fields"][0]["path"] == ["shipping_method_id"]
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="eu_gb:express")
    assert r.json()["state"] == "payment_method"
    for method, path in [
        (
            {"type": "card", "payment_method_id": "4242424242424242"},
            ["payment_method", "payment_method_id"],
        ),
        (
            {"type": "card", "payment_method_id": "pm_x", "number": "4242424242424242"},
            ["payment_method", "number"],
        ),
        ({"type": "cash"}, ["payment_method"]),
        ({"type": "saved", "saved_method_id": "pm_abcdef"}, ["payment_method", "saved_method_id"]),
    ]:
        r = await send(api, cid, "SELECT_PAYMENT", payment_method=method)
        assert r.status_code == 422, (method, r.text)
        assert path in [f["path"] for f in r.json()["error"]["fields"]], r.text


async def test_stale_if_match_is_412(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    co = await start(api)
    r = await api.post(
        f"/api/checkout/{co['id']}/events",
        json={"type": "SELECT_GUEST"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await api.post(
        f"/api/checkout/{co['id']}/events",
        json={"type": "SUBMIT_GUEST_INFO", **GUEST},
        headers={"If-Match": "1"},
    )
    assert r.status_code == 412 and error_code(r) == "version_mismatch"
    assert r.json()["error"]["details"]["current"]["version"] == 2


async def test_another_session_gets_404(api: Api, rt: Runtime, new_api: Any) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    other = await new_api()
    assert (await other.get(f"/api/checkout/{cid}")).status_code == 404
    r = await send(other, cid, "SELECT_GUEST")
    assert r.status_code == 404 and error_code(r) == "checkout_not_found"
    assert (await other.get(f"/api/checkout/{cid}/shipping-options")).status_code == 404
    assert (await api.get("/api/checkout/chk_nonsense")).status_code == 404


async def test_confirm_order_reprices_and_refuses_changed_totals(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt, price=2000, qty=1)
    cid = (await start(api))["id"]
    body = await to_state(api, cid, "order_review")
    old_total = body["context"]["totals"]["total"]
    extra = await factories.product(rt, price=500)
    await api.post("/api/cart/items", json={"product_id": extra.id})
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 409 and error_code(r) == "totals_changed"
    new = r.json()["error"]["details"]["totals"]
    assert new["subtotal"] == 2500 and new["total"] != old_total
    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["state"] == "order_review" and got["context"]["totals_changed"] is False
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "payment_processing" and r.json()["allowed_events"] == []


async def test_unavailable_items_block_confirmation(api: Api, rt: Runtime) -> None:
    p = await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    from tillpoint.catalog.models import Product

    async with rt.db.transaction() as s:
        row = await s.get(Product, p.id)
        assert row is not None
        row.price = row.price + 100
    r = await send(api, cid, "CONFIRM_ORDER")
    assert r.status_code == 422 and error_code(r) == "cart_invalid"
    assert r.json()["error"]["fields"][0]["code"] == "price_changed"


async def test_edit_events_go_back(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "order_review")
    assert (await send(api, cid, "EDIT_PAYMENT")).json()["state"] == "payment_method"
    await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    assert (await send(api, cid, "EDIT_BILLING")).json()["state"] == "billing_address"
    await send(api, cid, "SUBMIT_BILLING", address=BERLIN)
    r = (await api.get(f"/api/checkout/{cid}")).json()
    assert r["context"]["billing_address"]["country"] == "DE"
    assert r["context"]["shipping_address"]["country"] == "US"


async def test_a_guest_goes_back_one_screen_from_any_step_before_paying(
    api: Api, rt: Runtime
) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await to_state(api, cid, "payment_method")
    # Delivery and payment -> the address, keeping what was given.
    r = (await send(api, cid, "EDIT_SHIPPING")).json()
    assert r["state"] == "shipping_address" and r["context"]["shipping_address"]["city"]
    # The address -> the contact details; a corrected e-mail replaces the old one.
    r = (await send(api, cid, "EDIT_CONTACT")).json()
    assert r["state"] == "guest_info" and r["context"]["guest_info"]["email"] == GUEST["email"]
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **{**GUEST, "email": "ada@example.org"})
    body = r.json()
    assert body["state"] == "shipping_address"
    assert body["context"]["guest_info"]["email"] == "ada@example.org"
    assert (await send(api, cid, "USE_BILLING_AS_SHIPPING", address=NY)).status_code == 200
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="us:ground")
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    assert r.json()["state"] == "order_review", r.text
    r = (await send(api, cid, "EDIT_CONTACT")).json()
    assert r["state"] == "guest_info"


async def test_checkout_expires_lazily_and_by_the_sweep(
    api: Api, rt: Runtime, clock: MovableClock
) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    clock.advance(minutes=29)
    assert (await send(api, cid, "SELECT_GUEST")).status_code == 200  # activity slides the TTL
    clock.advance(minutes=29)
    assert (await api.get(f"/api/checkout/{cid}")).json()["state"] == "guest_info"
    clock.advance(minutes=2)
    r = await send(api, cid, "SUBMIT_GUEST_INFO", **GUEST)
    assert r.status_code == 409 and error_code(r) == "checkout_expired"
    got = (await api.get(f"/api/checkout/{cid}")).json()
    assert got["state"] == "expired" and got["allowed_events"] == []

    # a second checkout of the same cart, expired by the sweep job
    cid2 = (await start(api))["id"]
    assert cid2 != cid
    clock.advance(minutes=31)
    assert (await run_sweep(rt))["checkouts"] == 1
    assert (await api.get(f"/api/checkout/{cid2}")).json()["state"] == "expired"
    assert (await run_sweep(rt))["checkouts"] == 0


async def test_audit_rows_for_start_and_steps(api: Api, rt: Runtime) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    await send(api, cid, "SELECT_GUEST")
    await send(api, cid, "CONFIRM_ORDER")  # refused: no audit row
    async with rt.db.transaction() as s:
        rows = (
            await s.scalars(
                select(AuditLog).where(AuditLog.entity_id == cid).order_by(AuditLog.timestamp)
            )
        ).all()
    assert [r.event_type for r in rows] == ["checkout_started", "checkout_select_guest"]
    assert rows[1].meta == {"from": "user_identification", "to": "guest_info", "version": 2}
    assert all(r.session_id for r in rows)


async def test_event_body_is_a_discriminated_union_in_openapi(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    body = spec["paths"]["/api/checkout/{checkout_id}/events"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "type"
    assert "SUBMIT_SHIPPING" in schema["discriminator"]["mapping"]
    r = await api.post("/api/checkout/chk_" + "x" * 22 + "/events", json={"type": "FLY"})
    assert r.status_code == 422
