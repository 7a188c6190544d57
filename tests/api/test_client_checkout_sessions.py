"""tillpoint.client against the real app (in process, httpx's ASGI transport), on SQLite
and PostgreSQL: what the contract of issue 22 promises a shop's server, through the
client a shop uses. A key is made through the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_checkout_sessions import open_url, pay
from tests.support import Api
from tests.webhook_receiver import Receiver, serve_receiver
from tillpoint.client import (
    AsyncTillpointClient,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PriceData,
    PriceDataLineItem,
    SkuLineItem,
    construct_event,
)
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep
from tillpoint.webhooks.public import EndpointDraft, EventType, create_endpoint, rotate_secret

SHOP = "http://shop.example:5001"
SUCCESS = f"{SHOP}/success?session_id={{CHECKOUT_SESSION_ID}}"
CANCEL = f"{SHOP}/cart"
LINES = [
    SkuLineItem(sku="TEA-SENCHA", quantity=2),
    PriceDataLineItem(price_data=PriceData(currency="USD", unit_amount=900, name="Notebook")),
]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"allowed_redirect_hosts": "shop.example:5001"}


async def _key(admin_api: Api, *scopes: str) -> str:
    body: dict[str, Any] = {"name": "shop"} | ({"scopes": list(scopes)} if scopes else {})
    r = await admin_api.client.post("/api/admin/api-keys", json=body)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert secret.startswith("tp_sk_")
    return str(secret)


@pytest.fixture
async def seeded(rt: Any) -> None:
    from tillpoint.catalog.public import seed_demo_catalog
    from tillpoint.inventory.public import seed_demo_stock

    await seed_demo_catalog(rt)
    await seed_demo_stock(rt)


def _client(app: Any, key: str) -> AsyncTillpointClient:
    return AsyncTillpointClient(
        "http://testserver", key, transport=httpx.ASGITransport(app=app), retry_backoff=0
    )


@pytest.fixture
async def tp(app: Any, admin_api: Api, seeded: None) -> AsyncIterator[AsyncTillpointClient]:
    async with _client(app, await _key(admin_api)) as client:
        yield client


async def test_create_get_and_expire(tp: AsyncTillpointClient) -> None:
    made = await tp.create_checkout_session(
        line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL,
        client_reference_id="cart-42", metadata={"cart": "42"}, customer_email="a@b.example",
    )  # fmt: skip
    assert made.id.startswith("cs_") and made.status == "open"
    assert made.url == f"http://testserver/checkout/sessions/{made.id}"
    assert (made.client_reference_id, made.metadata) == ("cart-42", {"cart": "42"})
    assert made.amount_subtotal == made.amount_total == 2 * 1250 + 900
    assert [(li.sku, li.quantity, li.unit_amount) for li in made.line_items] == [
        ("TEA-SENCHA", 2, 1250),
        (None, 1, 900),
    ]
    assert made.expires_at > made.created_at
    assert await tp.get_checkout_session(made.id) == made
    expired = await tp.expire_checkout_session(made.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(ConflictError):
        await tp.expire_checkout_session(made.id)
    with pytest.raises(NotFoundError) as missing:
        await tp.get_checkout_session("cs_" + "a" * 22)
    assert missing.value.code == "checkout_session_not_found"
    with pytest.raises(NotFoundError) as malformed:  # not even an id
        await tp.get_checkout_session("cs_no_such_session")
    assert malformed.value.code == "checkout_session_not_found"
    with pytest.raises(NotFoundError) as elsewhere:  # one path segment: no other route
        await tp.get_checkout_session("../../admin/users")
    assert elsewhere.value.status == 404


async def test_the_idempotency_key_is_honoured(tp: AsyncTillpointClient) -> None:
    first = await tp.create_checkout_session(
        line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL, idempotency_key="cart-42"
    )
    again = await tp.create_checkout_session(
        line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL, idempotency_key="cart-42"
    )
    assert again.id == first.id
    with pytest.raises(ConflictError) as reused:
        await tp.create_checkout_session(
            line_items=LINES[:1], success_url=SUCCESS, cancel_url=CANCEL, idempotency_key="cart-42"
        )
    assert reused.value.code == "idempotency_key_reused"
    fresh = await tp.create_checkout_session(
        line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL
    )
    assert fresh.id != first.id


async def test_refusals_arrive_as_typed_errors(tp: AsyncTillpointClient) -> None:
    with pytest.raises(InvalidRequestError) as unknown:
        await tp.create_checkout_session(
            line_items=[LINES[1], SkuLineItem(sku="NO-SUCH-SKU")],
            success_url=SUCCESS,
            cancel_url=CANCEL,
        )
    assert unknown.value.status == 422
    assert ("line_items", 1, "sku") in [f.path for f in unknown.value.fields]
    with pytest.raises(InvalidRequestError) as elsewhere:
        await tp.create_checkout_session(
            line_items=LINES, success_url="https://evil.example/x", cancel_url=CANCEL
        )
    assert elsewhere.value.code == "redirect_host_not_allowed"
    assert [f.path for f in elsewhere.value.fields] == [("success_url",)]


async def test_a_wrong_key_and_a_missing_scope(app: Any, admin_api: Api, seeded: None) -> None:
    async with _client(app, "tp_sk_not_a_key") as stranger:
        with pytest.raises(AuthenticationError) as unknown:
            await stranger.get_checkout_session("cs_" + "b" * 22)
    assert (unknown.value.status, unknown.value.code) == (401, "invalid_api_key")
    async with _client(app, await _key(admin_api, "checkout_sessions:read")) as reader:
        with pytest.raises(PermissionDeniedError) as scope:
            await reader.create_checkout_session(
                line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL
            )
    assert (scope.value.status, scope.value.code) == (403, "api_key_scope_missing")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def test_a_paid_session_reads_complete_and_its_webhook_verifies(
    tp: AsyncTillpointClient, rt: Runtime, new_api: Any, receiver: Receiver
) -> None:
    hook = await create_endpoint(
        rt, EndpointDraft(receiver.url, (EventType.checkout_session_completed,))
    )
    made = await tp.create_checkout_session(
        line_items=LINES, success_url=SUCCESS, cancel_url=CANCEL, client_reference_id="cart-9"
    )
    assert made.url is not None
    shopper = await open_url(new_api, made.url)
    paid = await pay(shopper)
    assert paid["state"] == "order_confirmation", paid
    done = await tp.get_checkout_session(made.id)
    assert (done.status, done.url) == ("complete", None)
    assert done.order_id and done.order_number
    assert done.amount_total == done.amount_subtotal + done.amount_shipping + done.amount_tax
    # A rotation in between: the delivery carries both secrets' v1, either verifies it.
    rotated = await rotate_secret(rt, hook.id)
    assert (await run_sweep(rt))["webhooks"] == 1
    (delivery,) = receiver.received
    header = delivery.headers["Tillpoint-Signature"]
    assert header.count("v1=") == 2
    for secret in (hook.secret, rotated.secret):
        event = construct_event(delivery.body, header, secret)
        assert event.type == "checkout.session.completed"
        assert event.checkout_session == done
        assert event.order is not None and event.order.id == done.order_id
        assert event.order.totals.total == done.amount_total
