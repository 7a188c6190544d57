"""Sandbox-only behaviour: Stripe-style idempotency, Radar risk test cards, signed events
that the shared verification path accepts, and subscriptions."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc

import pytest

from tillpoint.payments.gateway import CreateIntent, GatewayRejected, IntentStatus, RecurringPrice
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.webhooks import verify_event

SECRET = "whsec_unit"


def _req(key: str, pm: str | None = "pm_card_visa", amount: int = 1000) -> CreateIntent:
    return CreateIntent(
        amount=amount, currency="USD", idempotency_key=key, payment_method_id=pm, confirm=bool(pm)
    )


async def test_same_idempotency_key_returns_the_first_intent() -> None:
    gateway = SandboxGateway(SECRET)
    first = await gateway.create_payment_intent(_req("chk_1:1:pay"))
    again = await gateway.create_payment_intent(_req("chk_1:1:pay", amount=9999))
    assert again.id == first.id and again.amount == 1000
    other = await gateway.create_payment_intent(_req("chk_1:2:pay"))
    assert other.id != first.id


async def test_same_refund_key_refunds_once() -> None:
    gateway = SandboxGateway(SECRET)
    paid = await gateway.create_payment_intent(_req("chk_r:1:pay"))
    one = await gateway.refund(paid.id, amount=400, idempotency_key="ord_1:refund:1")
    two = await gateway.refund(paid.id, amount=400, idempotency_key="ord_1:refund:1")
    assert one == two
    with pytest.raises(GatewayRejected) as err:
        await gateway.refund(paid.id, amount=601, idempotency_key="ord_1:refund:2")
    assert err.value.code == "amount_too_large"


@pytest.mark.parametrize(
    ("pm", "risk"),
    [
        ("pm_card_visa", "normal"),
        ("pm_card_riskLevelElevated", "elevated"),
        ("pm_card_riskLevelHighest", "highest"),
    ],
)
async def test_radar_test_cards_carry_their_risk_level(pm: str, risk: str) -> None:
    result = await SandboxGateway(SECRET).create_payment_intent(_req(f"k:{pm}", pm))
    assert result.status is IntentStatus.succeeded
    assert result.risk_level == risk


async def test_decline_codes_follow_stripe_test_cards() -> None:
    gateway = SandboxGateway(SECRET)
    funds = await gateway.create_payment_intent(
        _req("k:funds", "pm_card_chargeDeclinedInsufficientFunds")
    )
    assert funds.decline_code == "insufficient_funds"
    assert funds.decline_message == "Your card has insufficient funds."


async def test_events_are_signed_like_stripe_and_verify_on_the_shared_path() -> None:
    gateway = SandboxGateway(SECRET)
    received: list[tuple[bytes, str]] = []

    async def deliver(payload: bytes, signature: str) -> None:
        received.append((payload, signature))

    gateway.subscribe(deliver)
    paid = await gateway.create_payment_intent(_req("chk_ev:1:pay"))
    await gateway.drain()
    types = [json.loads(p)["type"] for p, _ in received]
    assert types == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    payload, signature = received[-1]
    event = verify_event(payload, signature, [SECRET], 300)
    assert event.type == "payment_intent.succeeded"
    assert event.object["id"] == paid.id and event.object["status"] == "succeeded"
    assert event.object["amount"] == 1000 and event.object["currency"] == "usd"


async def test_failed_three_d_secure_emits_payment_failed_with_the_reason() -> None:
    gateway = SandboxGateway(SECRET)
    pending = await gateway.create_payment_intent(_req("k:3ds", "pm_card_threeDSecure2Required"))
    await gateway.authenticate(pending.id, success=False)
    failed = gateway.events[-1]
    assert failed["type"] == "payment_intent.payment_failed"
    error = failed["data"]["object"]["last_payment_error"]
    assert error["code"] == "payment_intent_authentication_failure"
    with pytest.raises(GatewayRejected):
        await gateway.authenticate(pending.id, success=True)


async def test_subscription_for_recurring_lines_emits_created_and_invoice_paid() -> None:
    gateway = SandboxGateway(SECRET)
    customer = await gateway.create_customer(
        email="s@example.com", name=None, idempotency_key="u1", metadata={}
    )
    sub = await gateway.create_subscription(
        customer.id,
        [RecurringPrice("Coffee club", 1500, "USD", "month")],
        payment_method_id="pm_card_visa",
        idempotency_key="chk_sub:1",
        metadata={"checkout_id": "chk_sub"},
    )
    assert sub.status == "active" and sub.customer_id == customer.id
    types = [e["type"] for e in gateway.events]
    assert types[-2:] == ["customer.subscription.created", "invoice.paid"]
    assert gateway.events[-1]["data"]["object"]["amount_paid"] == 1500


async def test_events_are_posted_after_the_delay_in_order_and_drain_posts_them_at_once() -> None:
    gateway = SandboxGateway(SECRET, delivery_delay=0.5)
    received: list[str] = []
    three = asyncio.Event()

    async def deliver(payload: bytes, signature: str) -> None:
        received.append(json.loads(payload)["type"])
        if len(received) == 3:
            three.set()

    gateway.subscribe(deliver)
    await gateway.create_payment_intent(_req("chk_late:1:pay"))
    await asyncio.sleep(0.05)
    assert received == []  # not while the caller that caused them is still at work
    await asyncio.wait_for(three.wait(), timeout=10)  # a busy machine posts late, never early
    assert received == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    await gateway.create_payment_intent(_req("chk_late:2:pay", "pm_card_chargeDeclined"))
    slow = SandboxGateway(SECRET, delivery_delay=60)
    slow.subscribe(deliver)
    await slow.create_payment_intent(_req("chk_late:3:pay"))
    await asyncio.wait_for(gateway.drain(), timeout=5)
    await asyncio.wait_for(slow.drain(), timeout=5)  # without waiting out the minute
    assert received[3:] == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


async def _purchase(gateway: SandboxGateway, i: int) -> str:
    created = await gateway.create_payment_intent(
        CreateIntent(
            amount=1000 + i,
            currency="USD",
            idempotency_key=f"chk_{i}:1:pay",
            metadata={"checkout_id": f"chk_{i}", "attempt": "1"},
            payment_method_id="pm_card_visa",
        )
    )
    await gateway.confirm_payment_intent(created.id, idempotency_key=f"chk_{i}:1:pay")
    return created.id


async def test_what_the_sandbox_keeps_per_purchase_is_bounded() -> None:
    """A long-lived worker's sandbox must not grow with every purchase: the event log and
    the idempotent answers keep only the latest ones; intents stay (refunds need them)."""
    gateway = SandboxGateway(SECRET, event_log=10, idempotency_keys=20)
    delivered: list[str] = []

    async def deliver(payload: bytes, _signature: str) -> None:
        delivered.append(json.loads(payload)["id"])

    gateway.subscribe(deliver)
    ids = [await _purchase(gateway, i) for i in range(60)]
    await gateway.drain()
    assert len(delivered) == 180  # every event is still delivered...
    assert [e["id"] for e in gateway.events] == delivered[-10:]  # ...the log keeps the last
    assert len(gateway._idempotent) == 20
    assert not gateway._pending  # finished deliveries are not held
    first = await gateway.retrieve_payment_intent(ids[0])
    assert first.status is IntentStatus.succeeded  # an old intent is still there to refund
    refund = await gateway.refund(ids[0], idempotency_key="ord_0:refund")
    assert refund.amount == 1000


async def test_sandbox_memory_per_purchase_stays_small() -> None:
    """Held memory grows by about one compact intent per purchase, not by its events and
    answers (7.4 KB per purchase before they were bounded)."""
    gateway = SandboxGateway(SECRET, event_log=30, idempotency_keys=60)

    async def ignore(_payload: bytes, _signature: str) -> None:
        return None

    gateway.subscribe(ignore)
    for i in range(100):  # fill the bounded stores first
        await _purchase(gateway, i)
    await gateway.drain()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100, 400):
            await _purchase(gateway, i)
            await gateway.drain()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown / 300 < 1500, f"{grown / 300:.0f} bytes per purchase"


async def test_an_idempotency_key_answers_the_same_until_it_is_evicted() -> None:
    gateway = SandboxGateway(SECRET, idempotency_keys=2)
    first = await gateway.create_payment_intent(_req("chk_a:1:pay", None))
    assert (await gateway.create_payment_intent(_req("chk_a:1:pay", None))).id == first.id
    await gateway.create_payment_intent(_req("chk_b:1:pay", None))
    await gateway.create_payment_intent(_req("chk_c:1:pay", None))  # evicts chk_a's key
    assert (await gateway.create_payment_intent(_req("chk_a:1:pay", None))).id != first.id
    with pytest.raises(ValueError):
        SandboxGateway(SECRET, idempotency_keys=0)


async def test_a_replayed_key_answers_the_intent_as_it_was_then() -> None:
    """Stripe replays the first response: a create repeated after the confirm still says
    ``requires_confirmation``; the confirm repeated after a refund still says it succeeded."""
    gateway = SandboxGateway(SECRET)
    unconfirmed = CreateIntent(
        amount=1000, currency="USD", idempotency_key="chk_r:1", payment_method_id="pm_card_visa"
    )
    created = await gateway.create_payment_intent(unconfirmed)
    paid = await gateway.confirm_payment_intent(created.id, idempotency_key="chk_r:1")
    assert paid.status is IntentStatus.succeeded and paid.latest_charge_id
    await gateway.refund(created.id, idempotency_key="chk_r:refund")
    again = await gateway.create_payment_intent(unconfirmed)
    assert again == created and again.status is IntentStatus.requires_confirmation
    assert again.latest_charge_id is None
    assert await gateway.confirm_payment_intent(created.id, idempotency_key="chk_r:1") == paid
