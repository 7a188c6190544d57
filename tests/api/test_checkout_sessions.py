"""Checkout sessions by API key (issue 22): keys, creating and reading sessions, the
shopper's locked cart, one order per session, expiry and the two webhook events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests import factories
from tests.api.test_checkout import send, start, to_state
from tests.conftest import make_client
from tests.inventory_support import stocked
from tests.support import Api
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.api_keys.public import create_key
from tillpoint.audit.models import AuditLog
from tillpoint.checkout_sessions.models import CheckoutSession
from tillpoint.inventory.models import InventoryReservation
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep
from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint

SUCCESS = "http://127.0.0.1:5001/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://127.0.0.1:5001/cart"
SESSIONS = "/api/v1/checkout-sessions"
VISA = {"type": "card", "payment_method_id": "pm_card_visa"}
DECLINE = {"type": "card", "payment_method_id": "pm_card_chargeDeclined"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"payment_gateway": "sandbox", "allowed_redirect_hosts": "127.0.0.1:5001, shop.example"}


@pytest.fixture
async def server(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The shop's server: no cookies, no CSRF token, only its API key."""
    async with make_client(app) as client:
        yield client


@pytest.fixture
async def secret(rt: Runtime) -> str:
    return (await create_key(rt, "web shop")).secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def body(sku: str, **over: Any) -> dict[str, Any]:
    return {
        "line_items": [{"sku": sku, "quantity": 2}],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        **over,
    }


async def make(server: httpx.AsyncClient, secret: str, payload: dict[str, Any]) -> dict[str, Any]:
    r = await server.post(SESSIONS, json=payload, headers=auth(secret))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def open_url(new_api: Any, url: str) -> Api:
    """A new browser opens the session's url: 303 to the checkout, with its cookies."""
    shopper: Api = await new_api(start=False)
    r = await shopper.client.get(url.removeprefix("http://testserver"))
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/checkout?checkout_session=cs_")
    await shopper.start()
    return shopper


async def pay(shopper: Api, card: dict[str, Any] = VISA) -> dict[str, Any]:
    cid = str((await start(shopper))["id"])
    await to_state(shopper, cid, "payment_method")
    assert (await send(shopper, cid, "SELECT_PAYMENT", payment_method=card)).status_code == 200
    r = await send(shopper, cid, "CONFIRM_ORDER")
    assert r.status_code == 200, r.text
    r = await shopper.post("/api/payment/confirm", json={"checkout_id": cid})
    return {"checkout_id": cid, **r.json()}


# --- keys ---------------------------------------------------------------------------------


async def test_admin_api_makes_lists_and_revokes_keys_refused_at_once(
    admin_api: Api, server: httpx.AsyncClient, rt: Runtime
) -> None:
    product = await factories.product(rt, price=1500)
    r = await admin_api.post("/api/admin/api-keys", json={"name": "web shop"})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    made = r.json()
    assert made["secret"].startswith("tp_sk_") and len(made["secret"]) > 40
    assert made["scopes"] == ["checkout_sessions:read", "checkout_sessions:write"]
    assert made["display"] == "tp_sk_…" + made["secret"][-4:]
    listed = (await admin_api.get("/api/admin/api-keys")).json()["items"]
    assert [k["id"] for k in listed] == [made["id"]] and "secret" not in listed[0]
    await make(server, made["secret"], body(product.sku))
    r = await admin_api.delete(f"/api/admin/api-keys/{made['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await server.post(SESSIONS, json=body(product.sku), headers=auth(made["secret"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"].startswith("Bearer")
    async with rt.db.transaction() as s:
        rows = (
            await s.execute(
                select(AuditLog.event_type, AuditLog.meta)
                .where(AuditLog.entity_type == "api_key")
                .order_by(AuditLog.chain, AuditLog.seq)
            )
        ).all()
    kinds = sorted(e for e, _ in rows)
    assert kinds == ["api_key_created", "api_key_refused", "api_key_revoked", "api_key_used"]
    used = next(m for e, m in rows if e == "api_key_used")
    assert (used["method"], used["path"], used["outcome"]) == ("POST", SESSIONS, "accepted")
    refused = next(m for e, m in rows if e == "api_key_refused")
    assert refused["outcome"] == "revoked"


async def test_guessed_keys_are_refused_each_and_audited_once_per_address(
    server: httpx.AsyncClient, rt: Runtime
) -> None:
    product = await factories.product(rt)
    for n in range(5):
        guess = {"Authorization": f"Bearer tp_sk_guess{n:02d}" + "x" * 30}
        r = await server.post(SESSIONS, json=body(product.sku), headers=guess)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    async with rt.db.transaction() as s:
        rows = (
            await s.scalars(select(AuditLog.meta).where(AuditLog.event_type == "api_key_refused"))
        ).all()
    # A flood of guesses writes one row per address and minute (the next counts the rest).
    assert [m["outcome"] for m in rows] == ["unknown_key"]


async def test_scopes_and_missing_or_malformed_keys(
    server: httpx.AsyncClient, rt: Runtime, user_api: Api
) -> None:
    product = await factories.product(rt)
    reader = (await create_key(rt, "reader", ("checkout_sessions:read",))).secret
    writer = (await create_key(rt, "writer", ("checkout_sessions:write",))).secret
    r = await server.post(SESSIONS, json=body(product.sku), headers=auth(reader))
    assert r.status_code == 403 and r.json()["error"]["code"] == "api_key_scope_missing"
    made = await make(server, writer, body(product.sku))
    r = await server.get(f"{SESSIONS}/{made['id']}", headers=auth(writer))
    assert r.status_code == 403 and r.json()["error"]["code"] == "api_key_scope_missing"
    r = await server.get(f"{SESSIONS}/{made['id']}", headers=auth(reader))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    for header in ({}, {"Authorization": "Basic abc"}, auth("tp_sk_" + "x" * 43)):
        r = await server.get(f"{SESSIONS}/{made['id']}", headers=header)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    # A shopper's cookie session is no key; and the keys API is the admin's only.
    r = await user_api.get(f"{SESSIONS}/{made['id']}")
    assert r.status_code == 401
    assert (await user_api.get("/api/admin/api-keys")).status_code == 403


# --- creating and reading -----------------------------------------------------------------


async def test_sku_and_price_data_lines_make_one_session(
    server: httpx.AsyncClient, secret: str, rt: Runtime, api: Api
) -> None:
    product = await factories.product(rt, price=1500, name="Tee")
    payload = body(
        product.sku,
        line_items=[
            {
                "sku": product.sku,
                "quantity": 2,
                "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 5},
            },
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 700,
                    "name": "Gift wrap",
                    "tax_category": "standard",
                },
                "quantity": 1,
            },
        ],
        client_reference_id="shop-order-42",
        metadata={"cart": "c-9"},
        customer_email="a@b.example",
        expires_in=1800,
    )
    made = await make(server, secret, payload)
    assert made["id"].startswith("cs_") and made["object"] == "checkout_session"
    assert made["status"] == "open"
    assert made["url"] == f"http://testserver/checkout/sessions/{made['id']}"
    assert (made["amount_subtotal"], made["amount_total"], made["amount_tax"]) == (3700, 3700, 0)
    assert made["line_items"] == [
        {"sku": product.sku, "name": "Tee", "quantity": 2, "unit_amount": 1500,
         "amount_total": 3000},
        {"sku": None, "name": "Gift wrap", "quantity": 1, "unit_amount": 700,
         "amount_total": 700},
    ]  # fmt: skip
    assert (made["client_reference_id"], made["metadata"]) == ("shop-order-42", {"cart": "c-9"})
    assert made["order_id"] is None and made["allow_coupons"] is False
    # The price_data line's product is sold, never listed.
    listed = (await api.get("/api/products")).json()["items"]
    assert [p["sku"] for p in listed] == [product.sku]
    # The same price_data again reuses that product.
    again = await make(server, secret, payload)
    async with rt.db.transaction() as s:
        rows = (await s.scalars(select(CheckoutSession).order_by(CheckoutSession.id))).all()
    ids = {r.id: r.lines[1]["product_id"] for r in rows}
    assert ids[made["id"]] == ids[again["id"]]


def _line(i: int, **fields: Any) -> dict[str, Any]:
    return {"quantity": 1, **fields}


BAD: list[tuple[str, dict[str, Any], str, list[Any]]] = [
    ("unknown sku", {"line_items": [_line(0, sku="NOPE-1")]}, "unknown_sku",
     ["line_items", 0, "sku"]),
    ("zero quantity", {"line_items": [{"sku": "{sku}", "quantity": 0}]}, "greater_than_equal",
     ["line_items", 0, "quantity"]),
    ("quantity over the cap", {"line_items": [{"sku": "{sku}", "quantity": 1000}]},
     "quantity_out_of_range", ["line_items", 0, "quantity"]),
    ("currency mismatch", {"line_items": [_line(0, price_data={
        "currency": "EUR", "unit_amount": 100, "name": "X"})]}, "currency_mismatch",
     ["line_items", 0, "price_data", "currency"]),
    ("unit_amount zero", {"line_items": [_line(0, price_data={
        "currency": "USD", "unit_amount": 0, "name": "X"})]}, "greater_than",
     ["line_items", 0, "price_data", "unit_amount"]),
    ("unit_amount negative", {"line_items": [_line(0, price_data={
        "currency": "USD", "unit_amount": -5, "name": "X"})]}, "greater_than",
     ["line_items", 0, "price_data", "unit_amount"]),
    ("both kinds", {"line_items": [_line(0, sku="{sku}", price_data={
        "currency": "USD", "unit_amount": 5, "name": "X"})]}, "sku_or_price_data",
     ["line_items", 0]),
    ("no lines", {"line_items": []}, "too_short", ["line_items"]),
    ("too many lines", {"line_items": [_line(0, sku="{sku}")] * 101}, "too_long",
     ["line_items"]),
    ("too many metadata keys", {"metadata": {f"k{i}": "v" for i in range(51)}},
     "metadata_too_many_keys", ["metadata"]),
    ("metadata key too long", {"metadata": {"k" * 41: "v"}}, "metadata_key_too_long",
     ["metadata"]),
    ("metadata value too long", {"metadata": {"k": "v" * 501}}, "metadata_value_too_long",
     ["metadata"]),
    ("client_reference_id too long", {"client_reference_id": "r" * 201}, "string_too_long",
     ["client_reference_id"]),
    ("expires_in too short", {"expires_in": 1799}, "greater_than_equal", ["expires_in"]),
    ("expires_in too long", {"expires_in": 86401}, "less_than_equal", ["expires_in"]),
    ("adjustable bounds miss the quantity", {"line_items": [{"sku": "{sku}", "quantity": 9,
        "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 5}}]},
     "quantity_out_of_range", ["line_items", 0, "adjustable_quantity"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "change", "code", "path"), BAD, ids=[b[0] for b in BAD])
async def test_bad_requests_name_the_field(
    server: httpx.AsyncClient,
    secret: str,
    rt: Runtime,
    case: str,
    change: dict[str, Any],
    code: str,
    path: list[Any],
) -> None:
    product = await factories.product(rt)
    payload = json.loads(json.dumps(body(product.sku, **change)).replace("{sku}", product.sku))
    r = await server.post(SESSIONS, json=payload, headers=auth(secret))
    assert r.status_code == 422, r.text
    fields = r.json()["error"]["fields"]
    assert [(f["path"], f["code"]) for f in fields][:1] == [(path, code)], r.text
    async with rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(CheckoutSession)) == 0


async def test_out_of_stock_sku_is_refused_at_its_line(
    server: httpx.AsyncClient, secret: str, rt: Runtime
) -> None:
    product = await stocked(rt, 1)
    r = await server.post(SESSIONS, json=body(product.sku), headers=auth(secret))
    assert r.status_code == 422
    (field,) = r.json()["error"]["fields"]
    assert (field["path"], field["code"]) == (["line_items", 0, "sku"], "out_of_stock")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_reference_id", "4242 4242 4242 4242"),
        ("client_reference_id", "ref\x00one"),
        ("metadata", {"note": "card 4000056655665556"}),
        ("metadata", {"note": "line\x07bell"}),
    ],
)
async def test_card_numbers_and_control_characters_are_refused(
    server: httpx.AsyncClient, secret: str, rt: Runtime, field: str, value: Any
) -> None:
    product = await factories.product(rt)
    r = await server.post(SESSIONS, json=body(product.sku, **{field: value}), headers=auth(secret))
    assert r.status_code == 422, r.text
    (problem,) = r.json()["error"]["fields"]
    assert problem["path"][0] == field
    assert problem["code"] in {"card_data_not_accepted", "control_characters_not_allowed"}


async def test_card_number_in_a_price_data_name_is_refused(
    server: httpx.AsyncClient, secret: str, rt: Runtime
) -> None:
    line = {"price_data": {"currency": "USD", "unit_amount": 5, "name": "4111111111111111"},
            "quantity": 1}  # fmt: skip
    r = await server.post(SESSIONS, json=body("x", line_items=[line]), headers=auth(secret))
    assert r.status_code == 422
    (problem,) = r.json()["error"]["fields"]
    assert problem["path"] == ["line_items", 0, "price_data", "name"]


async def test_idempotency_key_replays_and_refuses_another_body(
    server: httpx.AsyncClient, secret: str, rt: Runtime
) -> None:
    product = await factories.product(rt)
    headers = {**auth(secret), "Idempotency-Key": "create-1"}
    first = await server.post(SESSIONS, json=body(product.sku), headers=headers)
    again = await server.post(SESSIONS, json=body(product.sku), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await server.post(
        SESSIONS, json=body(product.sku, metadata={"a": "b"}), headers=headers
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # Another API key's Idempotency-Key is its own.
    other_key = (await create_key(rt, "another shop")).secret
    theirs = await server.post(
        SESSIONS, json=body(product.sku), headers={**auth(other_key), "Idempotency-Key": "create-1"}
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # Two retries racing with one key: still one session.
    headers = {**auth(secret), "Idempotency-Key": "create-2"}
    both = await asyncio.gather(
        *(server.post(SESSIONS, json=body(product.sku), headers=headers) for _ in range(2))
    )
    assert {r.status_code for r in both} == {201}
    assert both[0].json()["id"] == both[1].json()["id"]
    async with rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(CheckoutSession)) == 3


OPEN_REDIRECTS = [
    "http://evil.example/cb",
    "//evil.example/cb",
    "http://127.0.0.1:5001@evil.example/cb",
    "http://shop.example@evil.example/",
    "http:\\\\evil.example\\cb",
    "http://shop.example\\@evil.example/",
    "javascript:alert(1)",
    "ftp://shop.example/x",
    "data:text/html,hi",
    "http://127.0.0.1:5002/success",
    "http://127.0.0.1/success",
    "http://shop.example:8080/x",
    "/relative/path",
    "http://shop.example.evil.example/",
]


@pytest.mark.parametrize("url", OPEN_REDIRECTS)
@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
async def test_redirects_only_to_allowed_hosts(
    server: httpx.AsyncClient, secret: str, rt: Runtime, field: str, url: str
) -> None:
    product = await factories.product(rt)
    r = await server.post(SESSIONS, json=body(product.sku, **{field: url}), headers=auth(secret))
    assert r.status_code == 422, r.text
    (problem,) = r.json()["error"]["fields"]
    assert (problem["path"], problem["code"]) == ([field], "redirect_host_not_allowed")


async def test_allowed_redirects_pass(server: httpx.AsyncClient, secret: str, rt: Runtime) -> None:
    product = await factories.product(rt)
    for ok in ("https://shop.example/done", "http://SHOP.example:80/x", "http://127.0.0.1:5001/"):
        await make(server, secret, body(product.sku, success_url=ok, cancel_url=ok))


# --- the shopper ---------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def test_shopper_pays_once_and_the_shop_reads_and_hears_it(
    server: httpx.AsyncClient, secret: str, rt: Runtime, new_api: Any, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(
        rt, EndpointDraft(receiver.url, (EventType.checkout_session_completed,))
    )
    fixed = await factories.product(rt, price=1500)
    flexible = await factories.product(rt, price=400)
    coupon_free = body(
        fixed.sku,
        line_items=[
            {"sku": fixed.sku, "quantity": 2},
            {
                "sku": flexible.sku,
                "quantity": 1,
                "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 3},
            },
        ],
        client_reference_id="shop-order-7",
    )
    made = await make(server, secret, coupon_free)
    shopper = await open_url(new_api, made["url"])
    cart = (await shopper.get("/api/cart")).json()
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [
        (fixed.id, 2), (flexible.id, 1)
    ]  # fmt: skip
    fixed_item, flexible_item = cart["items"]
    # Locked lines: no change, no removal, no new line, no coupon.
    r = await shopper.patch(f"/api/cart/items/{fixed_item['id']}", json={"quantity": 3})
    assert r.status_code == 409 and r.json()["error"]["code"] == "cart_line_locked"
    r = await shopper.delete(f"/api/cart/items/{fixed_item['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cart_line_locked"
    other = await factories.product(rt)
    r = await shopper.post("/api/cart/items", json={"product_id": other.id, "quantity": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "cart_line_locked"
    r = await shopper.post("/api/cart/coupons", json={"code": "SAVE10"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "coupons_not_allowed"
    r = await shopper.patch(f"/api/cart/items/{flexible_item['id']}", json={"quantity": 4})
    assert r.status_code == 422 and r.json()["error"]["details"] == {"min": 1, "max": 3}
    r = await shopper.patch(f"/api/cart/items/{flexible_item['id']}", json={"quantity": 3})
    assert r.status_code == 200, r.text
    # The same browser opening the url again resumes its cart.
    r = await shopper.client.get(made["url"].removeprefix("http://testserver"))
    assert r.status_code == 303
    assert (await shopper.get("/api/cart")).json()["id"] == cart["id"]
    page = await shopper.client.get("/checkout")
    assert f'href="{CANCEL}"' in page.text and "Back to shop" in page.text
    assert SUCCESS.replace("{CHECKOUT_SESSION_ID}", made["id"]) in page.text.replace("&amp;", "&")
    paid = await pay(shopper)
    assert paid["state"] == "order_confirmation", paid
    got = (await server.get(f"{SESSIONS}/{made['id']}", headers=auth(secret))).json()
    async with rt.db.transaction() as s:
        order = await s.get(Order, got["order_id"])
    assert order is not None
    assert (got["status"], got["url"], got["order_number"]) == ("complete", None, order.number)
    assert (got["amount_subtotal"], got["amount_total"]) == (4200, order.total)
    assert got["amount_shipping"] == order.shipping_total and got["amount_tax"] == order.tax_total
    assert [(ln["sku"], ln["quantity"]) for ln in got["line_items"]] == [
        (fixed.sku, 2), (flexible.sku, 3)
    ]  # fmt: skip
    # The webhook: delivered by the sweeper, signed, carrying session and order.
    assert (await run_sweep(rt))["webhooks"] == 1
    (delivery,) = receiver.received
    assert documented_verifier()(
        delivery.body, delivery.headers["Tillpoint-Signature"], endpoint.secret
    )
    event = json.loads(delivery.body)
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["checkout_session"]["id"] == made["id"]
    assert event["data"]["checkout_session"]["client_reference_id"] == "shop-order-7"
    assert event["data"]["order"]["id"] == order.id
    # The url of a complete session says so (and links to the success page).
    r = await shopper.client.get(made["url"].removeprefix("http://testserver"))
    assert r.status_code == 200 and "Already paid" in r.text


async def test_coupons_when_the_shop_allows_them(
    server: httpx.AsyncClient, secret: str, rt: Runtime, new_api: Any
) -> None:
    product = await factories.product(rt, price=5000)
    await factories.coupon(rt, code="SAVE10")  # 10 %
    made = await make(server, secret, body(product.sku, allow_coupons=True))
    shopper = await open_url(new_api, made["url"])
    r = await shopper.post("/api/cart/coupons", json={"code": "SAVE10"})
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["discount"] == 1000


async def test_two_browsers_paying_at_once_make_one_order(
    server: httpx.AsyncClient, secret: str, rt: Runtime, new_api: Any
) -> None:
    product = await factories.product(rt, price=1200)
    made = await make(server, secret, body(product.sku))
    ada, bob = await open_url(new_api, made["url"]), await open_url(new_api, made["url"])
    ids = []
    for shopper in (ada, bob):
        cid = str((await start(shopper))["id"])
        await to_state(shopper, cid, "order_review")
        ids.append(cid)
    both = await asyncio.gather(
        send(ada, ids[0], "CONFIRM_ORDER"), send(bob, ids[1], "CONFIRM_ORDER")
    )
    codes = sorted(r.status_code for r in both)
    assert codes == [200, 409], [r.text for r in both]
    loser = next(r for r in both if r.status_code == 409)
    assert loser.json()["error"]["code"] == "checkout_session_in_progress"
    winner, winner_id = next(
        (s, c) for s, c, r in zip((ada, bob), ids, both, strict=True) if r.status_code == 200
    )
    r = await winner.post("/api/payment/confirm", json={"checkout_id": winner_id})
    assert r.json()["state"] == "order_confirmation", r.text
    other, other_id = next((s, c) for s, c in zip((ada, bob), ids, strict=True) if c != winner_id)
    r = await send(other, other_id, "CONFIRM_ORDER")
    assert r.status_code == 409 and r.json()["error"]["code"] == "checkout_session_not_open"
    async with rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Order)) == 1


async def test_expiry_releases_stock_and_tells_the_shop(
    server: httpx.AsyncClient,
    secret: str,
    rt: Runtime,
    new_api: Any,
    receiver: Receiver,
    clock: Any,
) -> None:
    endpoint = await create_endpoint(
        rt, EndpointDraft(receiver.url, (EventType.checkout_session_expired,))
    )
    product = await stocked(rt, 5)
    made = await make(server, secret, body(product.sku, expires_in=1800))
    shopper = await open_url(new_api, made["url"])
    failed = await pay(shopper, DECLINE)
    assert failed["state"] == "payment_failed"  # the stock stays held for a retry

    async def held() -> int:
        async with rt.db.transaction() as s:
            q = select(func.count()).select_from(InventoryReservation)
            return int(await s.scalar(q.where(InventoryReservation.status == "active")) or 0)

    assert await held() == 1
    assert (await run_sweep(rt))["checkout_sessions"] == 0
    clock.advance(seconds=1801)
    results = await run_sweep(rt)
    assert results["checkout_sessions"] == 1
    assert await held() == 0
    got = (await server.get(f"{SESSIONS}/{made['id']}", headers=auth(secret))).json()
    assert (got["status"], got["url"]) == ("expired", None)
    (delivery,) = receiver.received
    assert documented_verifier()(
        delivery.body,
        delivery.headers["Tillpoint-Signature"],
        endpoint.secret,
        now=clock.now().timestamp(),  # signed at the test clock's time
    )
    event = json.loads(delivery.body)
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["checkout_session"]["id"] == made["id"] and event["data"]["order"] is None
    r = await shopper.client.get(made["url"].removeprefix("http://testserver"))
    assert r.status_code == 410 and f'href="{CANCEL}"' in r.text


async def test_expire_endpoint(server: httpx.AsyncClient, secret: str, rt: Runtime) -> None:
    product = await factories.product(rt)
    made = await make(server, secret, body(product.sku))
    r = await server.post(f"{SESSIONS}/{made['id']}/expire", headers=auth(secret))
    assert r.status_code == 200 and (r.json()["status"], r.json()["url"]) == ("expired", None)
    r = await server.post(f"{SESSIONS}/{made['id']}/expire", headers=auth(secret))
    assert r.status_code == 409 and r.json()["error"]["code"] == "checkout_session_not_open"
    for unknown in (f"cs_{'a' * 22}", "cs_no_such_session", "x"):
        r = await server.get(f"{SESSIONS}/{unknown}", headers=auth(secret))
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "checkout_session_not_found"
        r = await server.post(f"{SESSIONS}/{unknown}/expire", headers=auth(secret))
        assert r.json()["error"]["code"] == "checkout_session_not_found"
    r = await server.get(f"{SESSIONS}/cs_no_such_session")  # the key is checked first
    assert r.status_code == 401


async def test_no_allowed_hosts_means_no_sessions(
    server: httpx.AsyncClient, secret: str, rt: Runtime
) -> None:
    product = await factories.product(rt)
    rt.settings = rt.settings.model_copy(update={"allowed_redirect_hosts": ""})
    r = await server.post(SESSIONS, json=body(product.sku), headers=auth(secret))
    assert r.status_code == 422
    assert "TILLPOINT_ALLOWED_REDIRECT_HOSTS" in r.json()["error"]["fields"][0]["message"]


async def test_signing_in_keeps_the_session_cart_as_it_is(
    server: httpx.AsyncClient, secret: str, rt: Runtime, new_api: Any, user_api: Api
) -> None:
    from tests.conftest import USER_EMAIL, USER_PASSWORD

    product = await factories.product(rt, price=900)
    own = await factories.product(rt, price=100)
    r = await user_api.post("/api/cart/items", json={"product_id": own.id, "quantity": 1})
    assert r.status_code == 200, r.text  # the customer's own cart has a line already
    made = await make(server, secret, body(product.sku))
    shopper = await open_url(new_api, made["url"])
    before = (await shopper.get("/api/cart")).json()
    assert (await shopper.login(USER_EMAIL, USER_PASSWORD)).status_code == 200
    after = (await shopper.get("/api/cart")).json()
    assert after["id"] == before["id"]  # adopted, not merged into the customer's cart
    assert [(i["product_id"], i["quantity"]) for i in after["items"]] == [(product.id, 2)]
    r = await shopper.patch(f"/api/cart/items/{after['items'][0]['id']}", json={"quantity": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "cart_line_locked"


async def test_a_url_opened_after_the_stock_ran_out_says_so(
    server: httpx.AsyncClient, secret: str, rt: Runtime, new_api: Any
) -> None:
    from tillpoint.inventory.levels import adjust_stock

    product = await stocked(rt, 2)
    made = await make(server, secret, body(product.sku))
    await adjust_stock(rt, product.id, on_hand=1, reason="breakage")
    browser: Api = await new_api(start=False)
    r = await browser.client.get(made["url"].removeprefix("http://testserver"))
    assert r.status_code == 409 and f'href="{CANCEL}"' in r.text and "Back to shop" in r.text
    r = await browser.client.get(f"/checkout/sessions/cs_{'b' * 22}")
    assert r.status_code == 404
