"""Outbound webhooks end to end on both backends: emitted in the change's transaction,
POSTed to a real loopback receiver, signed as docs/webhooks.md says, retried with
backoff, failed after the last attempt, timed out, and refused in production when the
URL points inside the network."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.payment_support import paid_order
from tests.webhook_receiver import Receiver, documented_verifier, serve_receiver
from tillpoint.audit.service import SYSTEM
from tillpoint.config import Mode
from tillpoint.errors import InvalidInput
from tillpoint.orders.models import Order
from tillpoint.orders.refunds import RefundRequest, refund_order
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.runtime import Runtime
from tillpoint.webhooks.models import WebhookDelivery, WebhookEvent
from tillpoint.webhooks.public import (
    EndpointChanges,
    EndpointDraft,
    EventType,
    WebhookEndpoint,
    create_endpoint,
    deliver_webhooks,
    rotate_secret,
    update_endpoint,
)

ORDER_EVENTS = (EventType.order_created, EventType.order_paid, EventType.order_refunded)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_timeout_seconds": 0.5, "webhook_max_attempts": 3}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


async def _endpoint(rt: Runtime, url: str, *events: EventType) -> WebhookEndpoint:
    return await create_endpoint(rt, EndpointDraft(url, events or ORDER_EVENTS))


async def _deliveries(rt: Runtime) -> list[WebhookDelivery]:
    async with rt.db.transaction() as s:
        return list(await s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


async def _count(rt: Runtime, model: Any) -> int:
    async with rt.db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_paid_order_delivers_created_and_paid_signed_as_the_docs_verify(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await _endpoint(rt, receiver.url)
    order = await paid_order(rt, rt.gateway, email="ada@example.com")
    assert await deliver_webhooks(rt) == 2
    verify = documented_verifier()
    types = []
    for got in receiver.received:
        assert verify(got.body, got.headers["Tillpoint-Signature"], endpoint.secret)
        assert not verify(got.body + b" ", got.headers["Tillpoint-Signature"], endpoint.secret)
        assert not verify(got.body, got.headers["Tillpoint-Signature"], "whsec_wrong")
        event = json.loads(got.body)
        assert got.headers["Tillpoint-Event-Id"] == event["id"]
        assert got.headers["Tillpoint-Event-Type"] == event["type"]
        types.append(event["type"])
        data = event["data"]
        assert (data["id"], data["number"], data["status"], data["email"]) == (
            order.id, order.number, "paid", "ada@example.com"
        )  # fmt: skip
        assert data["totals"] == {
            "subtotal": 8000, "discount": 800, "shipping": 500, "tax": 616, "total": 8316,
            "refunded": 0,
        }  # fmt: skip
        assert [(ln["name"], ln["quantity"]) for ln in data["lines"]] == [("Tea", 2), ("Mug", 1)]
    assert sorted(types) == ["order.created", "order.paid"]
    rows = await _deliveries(rt)
    assert [(r.status, r.attempts, r.last_status_code) for r in rows] == [
        ("delivered", 1, 200),
        ("delivered", 1, 200),
    ]
    assert await deliver_webhooks(rt) == 0 and len(receiver.received) == 2  # sent once


async def test_the_signature_is_refused_outside_the_tolerance(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await _endpoint(rt, receiver.url)
    await paid_order(rt, rt.gateway)
    await deliver_webhooks(rt)
    got = receiver.received[0]
    sent_at = int(rt.clock.now().timestamp())
    verify = documented_verifier()
    header = got.headers["Tillpoint-Signature"]
    assert verify(got.body, header, endpoint.secret, now=sent_at + 299)
    assert not verify(got.body, header, endpoint.secret, now=sent_at + 301)


async def test_a_500_is_retried_after_the_backoff_then_delivered(
    rt: Runtime, receiver: Receiver, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _endpoint(rt, receiver.url, EventType.order_paid)
    receiver.answers(500, 200)
    await paid_order(rt, rt.gateway)
    with caplog.at_level(logging.INFO, logger="tillpoint.webhooks.delivery"):
        assert await deliver_webhooks(rt) == 0
        (row,) = await _deliveries(rt)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.last_error is not None and row.last_error.startswith("HTTP 500")
        assert row.next_attempt_at is not None
        wait = (row.next_attempt_at - clock.now()).total_seconds()
        assert 30 <= wait <= 36  # the 30 s base plus at most 20 % jitter
        assert await deliver_webhooks(rt) == 0 and len(receiver.received) == 1  # not due yet
        clock.advance(seconds=37)
        assert await deliver_webhooks(rt) == 1
    (row,) = await _deliveries(rt)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered", 2, 200, None
    )  # fmt: skip
    assert row.delivered_at == clock.now()
    attempts = [r for r in caplog.records if r.getMessage() == "webhook delivery attempt"]
    assert [(r.attempt, r.status_code, r.status) for r in attempts] == [  # type: ignore[attr-defined]
        (1, 500, "pending"),
        (2, 200, "delivered"),
    ]
    assert all(r.duration_ms >= 0 and r.url == receiver.url for r in attempts)  # type: ignore[attr-defined]
    assert receiver.received[0].body == receiver.received[1].body  # the same event again


async def test_a_delivery_fails_after_the_last_attempt(
    rt: Runtime, receiver: Receiver, clock: Any
) -> None:
    await _endpoint(rt, receiver.url, EventType.order_paid)
    receiver.answers(503, 502, 500, 200)
    await paid_order(rt, rt.gateway)
    for _ in range(5):
        await deliver_webhooks(rt)
        clock.advance(hours=1)
    (row,) = await _deliveries(rt)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 500)
    assert row.next_attempt_at is None and row.delivered_at is None
    assert len(receiver.received) == 3  # webhook_max_attempts = 3 in this module


async def test_a_receiver_slower_than_the_timeout_counts_as_a_failed_attempt(
    rt: Runtime, receiver: Receiver
) -> None:
    await _endpoint(rt, receiver.url, EventType.order_paid)
    receiver.answers((200, 1.5))
    await paid_order(rt, rt.gateway)
    assert await deliver_webhooks(rt) == 0
    (row,) = await _deliveries(rt)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == "timeout after 0.5 s"


async def test_a_redirect_is_not_followed(rt: Runtime, receiver: Receiver) -> None:
    await _endpoint(rt, receiver.url, EventType.order_paid)
    receiver.answers(302)
    await paid_order(rt, rt.gateway)
    await deliver_webhooks(rt)
    (row,) = await _deliveries(rt)
    assert (row.status, row.last_status_code) == ("pending", 302)
    assert len(receiver.received) == 1


async def test_events_go_only_to_active_endpoints_subscribed_to_their_type(
    rt: Runtime, receiver: Receiver
) -> None:
    paid = await _endpoint(rt, receiver.url + "/paid", EventType.order_paid)
    await _endpoint(rt, receiver.url + "/stock", EventType.inventory_low_stock)
    off = await _endpoint(rt, receiver.url + "/off", EventType.order_paid)
    await update_endpoint(rt, off.id, EndpointChanges(active=False))
    await paid_order(rt, rt.gateway)
    rows = await _deliveries(rt)
    assert [(r.endpoint_id, r.event_type) for r in rows] == [(paid.id, "order.paid")]
    await deliver_webhooks(rt)
    assert [g.path for g in receiver.received] == ["/hooks/paid"]


async def test_deliveries_of_an_endpoint_disabled_meanwhile_fail_unsent(
    rt: Runtime, receiver: Receiver
) -> None:
    endpoint = await _endpoint(rt, receiver.url, EventType.order_paid)
    await paid_order(rt, rt.gateway)
    await update_endpoint(rt, endpoint.id, EndpointChanges(active=False))
    assert await deliver_webhooks(rt) == 0
    (row,) = await _deliveries(rt)
    assert (row.status, row.attempts, row.last_error) == ("failed", 0, "endpoint disabled")
    assert receiver.received == []


async def test_nobody_subscribed_means_nothing_is_written(rt: Runtime) -> None:
    await paid_order(rt, rt.gateway)
    assert await _count(rt, WebhookEvent) == 0 and await _count(rt, WebhookDelivery) == 0


async def test_an_order_that_rolls_back_emits_nothing(rt: Runtime, receiver: Receiver) -> None:
    await _endpoint(rt, receiver.url)
    intent = await rt.gateway.create_payment_intent(
        CreateIntent(
            amount=1000, currency="USD", idempotency_key="rollback:1:pay",
            payment_method_id="pm_card_visa", confirm=True,
        )
    )  # fmt: skip
    draft = OrderDraft(
        checkout_id="chk_rollback", currency="USD", subtotal=1000, discount_total=0,
        shipping_total=0, tax_total=0, total=1000,
        lines=(LineDraft("prod_a", None, "Tea", 1, 1000, 1000, 0, 0, 1000),),
    )  # fmt: skip

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with rt.db.transaction() as s:
            await insert_order_rows(
                s, rt.settings, draft, intent, gateway="sandbox", held_for_review=False,
                now=rt.clock.now(),
            )  # fmt: skip
            raise Boom
    assert await _count(rt, Order) == 0
    assert await _count(rt, WebhookEvent) == 0 and await _count(rt, WebhookDelivery) == 0
    assert await deliver_webhooks(rt) == 0 and receiver.received == []


async def test_an_order_held_for_review_is_created_but_not_paid(
    rt: Runtime, receiver: Receiver
) -> None:
    await _endpoint(rt, receiver.url)
    intent = await rt.gateway.create_payment_intent(
        CreateIntent(
            amount=1000, currency="USD", idempotency_key="held:1:pay",
            payment_method_id="pm_card_visa", confirm=True,
        )
    )  # fmt: skip
    draft = OrderDraft(
        checkout_id="chk_held", currency="USD", subtotal=1000, discount_total=0,
        shipping_total=0, tax_total=0, total=1000,
        lines=(LineDraft("prod_a", None, "Tea", 1, 1000, 1000, 0, 0, 1000),),
    )  # fmt: skip
    async with rt.db.transaction() as s:
        await insert_order_rows(
            s, rt.settings, draft, intent, gateway="sandbox", held_for_review=True,
            now=rt.clock.now(),
        )  # fmt: skip
    await deliver_webhooks(rt)
    bodies = [json.loads(g.body) for g in receiver.received]
    assert [(b["type"], b["data"]["status"]) for b in bodies] == [
        ("order.created", "held_for_review")
    ]


async def test_a_refund_sends_order_refunded_with_the_refund(
    rt: Runtime, receiver: Receiver
) -> None:
    await _endpoint(rt, receiver.url, EventType.order_refunded)
    order = await paid_order(rt, rt.gateway)
    request = RefundRequest(amount=2500, idempotency_key="r1", reason="damaged")
    await refund_order(rt, rt.gateway, order.id, request, SYSTEM)
    await deliver_webhooks(rt)
    (got,) = receiver.received
    event = json.loads(got.body)
    assert event["type"] == "order.refunded"
    assert event["data"]["status"] == "partially_refunded"
    assert event["data"]["totals"]["refunded"] == 2500
    refund = event["data"]["refund"]
    assert (refund["amount"], refund["currency"], refund["reason"]) == (2500, "USD", "damaged")


async def test_during_a_rotation_both_secrets_sign_and_after_the_grace_only_the_new(
    rt: Runtime, receiver: Receiver, clock: Any
) -> None:
    old = await _endpoint(rt, receiver.url, EventType.order_paid)
    new = await rotate_secret(rt, old.id)
    assert new.secret != old.secret
    verify = documented_verifier()
    await paid_order(rt, rt.gateway)
    await deliver_webhooks(rt)
    got = receiver.received[-1]
    header = got.headers["Tillpoint-Signature"]
    assert header.count("v1=") == 2
    now = clock.now().timestamp()
    assert verify(got.body, header, old.secret, now=now)
    assert verify(got.body, header, new.secret, now=now)
    clock.advance(hours=24, seconds=1)
    await paid_order(rt, rt.gateway)
    await deliver_webhooks(rt)
    got = receiver.received[-1]
    header = got.headers["Tillpoint-Signature"]
    now = clock.now().timestamp()
    assert header.count("v1=") == 1
    assert verify(got.body, header, new.secret, now=now)
    assert not verify(got.body, header, old.secret, now=now)


def _production(rt: Runtime, **changes: Any) -> Runtime:
    """The same runtime with production's URL rules (the settings copied after validation,
    so the payment and base-URL requirements of production do not apply)."""
    prod = copy.copy(rt)
    prod.settings = rt.settings.model_copy(update={"mode": Mode.production, **changes})
    return prod


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/hooks", "webhook_url_not_https"),
        ("https://127.0.0.1/hooks", "webhook_url_private"),
        ("https://localhost:8443/hooks", "webhook_url_private"),
        ("https://10.1.2.3/hooks", "webhook_url_private"),
        ("https://192.168.0.10/hooks", "webhook_url_private"),
        ("https://169.254.169.254/latest/meta-data", "webhook_url_private"),
        ("https://[::1]/hooks", "webhook_url_private"),
        ("https://[fd00::1]/hooks", "webhook_url_private"),
        ("ftp://example.com/hooks", "invalid_webhook_url"),
        ("https://user:pw@example.com/", "invalid_webhook_url"),
    ],
)
async def test_production_refuses_urls_into_the_network(rt: Runtime, url: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _endpoint(_production(rt), url)
    assert caught.value.code == code
    assert [f.path for f in caught.value.fields] == [("url",)]
    assert await _count(rt, WebhookDelivery) == 0


async def test_production_allows_private_urls_when_the_setting_says_so(
    rt: Runtime, receiver: Receiver
) -> None:
    allowed = _production(rt, webhook_allow_private_urls=True)
    endpoint = await _endpoint(allowed, receiver.url, EventType.order_paid)
    assert endpoint.url == receiver.url


async def test_production_refuses_to_post_to_a_private_address_at_delivery(
    rt: Runtime, receiver: Receiver
) -> None:
    await _endpoint(rt, receiver.url, EventType.order_paid)  # allowed outside production
    await paid_order(rt, rt.gateway)
    assert await deliver_webhooks(_production(rt)) == 0
    (row,) = await _deliveries(rt)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error is not None and row.last_error.startswith("refused:")
    assert receiver.received == []
