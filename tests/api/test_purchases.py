"""Whole purchases over HTTP on both gateways (the offline sandbox, and the real stripe SDK
against localstripe): every outcome, webhooks in any order, crash recovery, exactly one
order per checkout."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests import factories
from tests.api.test_checkout import NY, fill_cart, send, start, to_state
from tests.localstripe_server import LocalStripe
from tests.payment_support import attempt_status, signed
from tests.stripe_fixtures import WEBHOOK_SECRET, stripe_settings
from tests.support import Api, MovableClock, error_code
from tillpoint.audit.models import AuditLog
from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.cart.models import Cart
from tillpoint.checkout import completion, payment_sync
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.reservations import expire_reservations
from tillpoint.orders.models import Order
from tillpoint.outbox.models import OutboxMessage
from tillpoint.payments.models import PaymentAttempt
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep

SANDBOX_SECRET = "whsec_sandbox_purchases"


@pytest.fixture(params=["sandbox", "stripe"])
def pay_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(pay_backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if pay_backend == "stripe":
        ls: LocalStripe = request.getfixturevalue("localstripe")
        return stripe_settings(ls.url)
    return {"sandbox_webhook_secret": SANDBOX_SECRET, "payment_gateway": "sandbox"}


@dataclass
class Pay:
    """The backend-specific pieces of a purchase test."""

    api: Api
    rt: Runtime
    backend: str
    gateway: Any
    ok: str
    decline: str
    three_ds: Callable[[], Awaitable[str]]
    localstripe: LocalStripe | None

    async def checkout_at_review(self, card: str | None = None) -> str:
        await fill_cart(self.api, self.rt)
        cid = str((await start(self.api))["id"])
        await to_state(self.api, cid, "payment_method")
        r = await send(
            self.api, cid, "SELECT_PAYMENT",
            payment_method={"type": "card", "payment_method_id": card or self.ok},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return cid

    async def confirm_order(self, cid: str) -> dict[str, Any]:
        r = await send(self.api, cid, "CONFIRM_ORDER")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "payment_processing"
        return dict(r.json())

    async def pay(self, cid: str) -> dict[str, Any]:
        r = await self.api.post("/api/payment/confirm", json={"checkout_id": cid})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def authenticate(self, cid: str, success: bool) -> dict[str, Any]:
        if self.backend == "sandbox":
            r = await self.api.post(
                "/api/payment/sandbox/authenticate", json={"checkout_id": cid, "success": success}
            )
            assert r.status_code == 200, r.text
            return dict(r.json())
        intent = (
            await self.api.post("/api/payment/create-intent", json={"checkout_id": cid})
        ).json()
        assert self.localstripe is not None
        self.localstripe.authenticate(
            intent["payment_intent_id"], intent["client_secret"], success=success
        )
        return await self.pay(cid)

    async def intent_json(self, intent_id: str) -> dict[str, Any]:
        if isinstance(self.gateway, SandboxGateway):
            return self.gateway._intents[intent_id].as_stripe()
        client = self.gateway._accounts["primary"].client
        obj = await client.v1.payment_intents.retrieve_async(intent_id)
        return dict(obj.to_dict())

    async def webhook(self, intent_id: str, event_type: str, *, event_id: str | None = None,
                      obj: dict[str, Any] | None = None) -> Any:  # fmt: skip
        """Deliver a signed ``payment_intent.*`` event as Stripe would."""
        from tests.payment_support import stripe_event

        event = stripe_event(
            event_type, obj or await self.intent_json(intent_id), event_id=event_id
        )
        secret = SANDBOX_SECRET if self.backend == "sandbox" else WEBHOOK_SECRET
        body, headers = signed(event, secret)
        r = await self.api.post("/api/webhooks/stripe", content=body, headers=headers)
        assert r.status_code == 200, r.text
        return event

    async def refunded(self, intent_id: str) -> int:
        """How much of the intent the gateway has given back."""
        if isinstance(self.gateway, SandboxGateway):
            return self.gateway._intents[intent_id].refunded
        client = self.gateway._accounts["primary"].client
        refunds = await client.v1.refunds.list_async({"payment_intent": intent_id})
        return sum(int(r.amount) for r in refunds.data)

    async def settle(self) -> None:
        if isinstance(self.gateway, SandboxGateway):
            await self.gateway.drain()

    async def orders(self) -> list[Order]:
        await self.settle()
        async with self.rt.db.transaction() as s:
            return list(await s.scalars(select(Order)))

    async def state(self, cid: str) -> dict[str, Any]:
        return dict((await self.api.get(f"/api/checkout/{cid}")).json())


@pytest.fixture
async def pay(api: Api, rt: Runtime, pay_backend: str, request: pytest.FixtureRequest) -> Pay:
    return await make_pay(api, rt, pay_backend, request)


async def make_pay(api: Api, rt: Runtime, pay_backend: str, request: pytest.FixtureRequest) -> Pay:
    """The purchase helpers for ``api`` on the backend's gateway (the ``pay`` fixture)."""
    gateway = api.client._transport.app.state.gateway  # type: ignore[attr-defined]
    if pay_backend == "sandbox":

        async def three_ds_sandbox() -> str:
            return "pm_card_threeDSecure2Required"

        return Pay(api, rt, pay_backend, gateway, "pm_card_visa", "pm_card_chargeDeclined",
                   three_ds_sandbox, None)  # fmt: skip
    ls: LocalStripe = request.getfixturevalue("localstripe")

    async def three_ds_stripe() -> str:
        client = gateway._accounts["primary"].client
        pm = await client.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {
                    "number": "4000002500003155",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            }
        )
        return str(pm.id)

    return Pay(api, rt, pay_backend, gateway, "pm_card_visa", "pm_card_chargeCustomerFail",
               three_ds_stripe, ls)  # fmt: skip


async def _count(rt: Runtime, model: Any) -> int:
    async with rt.db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_guest_purchase_succeeds_with_one_order_email_and_converted_cart(pay: Pay) -> None:
    cid = await pay.checkout_at_review()
    review = await pay.confirm_order(cid)
    payment = review["context"]["payment"]
    assert payment["intent_id"] and payment["attempt"] == 1
    assert payment["amount"] == review["context"]["totals"]["total"]
    result = await pay.pay(cid)
    assert result["state"] == "order_confirmation" and result["payment_status"] == "succeeded"
    orders = await pay.orders()
    assert [o.id for o in orders] == [result["order_id"]]
    order = orders[0]
    assert order.total == payment["amount"] and order.status == "paid"
    assert order.email == "ada@example.com" and order.number.startswith("TP-")
    assert sum(line.total for line in order.lines) + order.shipping_refundable == order.total
    assert order.lines[0].name  # copied from the catalog
    body = (await pay.api.get(f"/api/orders/by-checkout/{cid}")).json()
    assert body["id"] == order.id and body["access_token"]
    async with pay.rt.db.transaction() as s:
        cart = await s.get(Cart, order.cart_id)
        assert cart is not None and cart.status == "converted"
        messages = list(await s.scalars(select(OutboxMessage)))
        assert [(m.kind, m.recipient) for m in messages] == [
            ("order_confirmation", "ada@example.com")
        ]
        audit = await s.scalar(select(AuditLog).where(AuditLog.event_type == "order_created"))
        assert audit is not None and audit.entity_id == order.id
    again = await pay.pay(cid)  # the browser retrying its confirmation
    assert again["order_id"] == order.id
    assert len(await pay.orders()) == 1


async def test_decline_then_retry_with_another_card(pay: Pay) -> None:
    cid = await pay.checkout_at_review(pay.decline)
    first = (await pay.confirm_order(cid))["context"]["payment"]
    declined = await pay.pay(cid)
    assert declined["state"] == "payment_failed"
    assert declined["decline_code"] in {"card_declined", "generic_decline"}
    view = await pay.state(cid)
    assert view["context"]["payment"]["error"]["code"] in {"card_declined", "generic_decline"}
    assert (await send(pay.api, cid, "RETRY_PAYMENT")).json()["state"] == "payment_method"
    r = await send(pay.api, cid, "SELECT_PAYMENT",
                   payment_method={"type": "card", "payment_method_id": pay.ok})  # fmt: skip
    assert r.status_code == 200
    second = (await pay.confirm_order(cid))["context"]["payment"]
    assert second["attempt"] == 2 and second["intent_id"] != first["intent_id"]
    done = await pay.pay(cid)
    assert done["state"] == "order_confirmation"
    orders = await pay.orders()
    assert len(orders) == 1 and orders[0].payment_intent_id == second["intent_id"]
    old = await pay.gateway.retrieve_payment_intent(first["intent_id"])
    assert old.status.value == "canceled"


@pytest.mark.parametrize("success", [True, False])
async def test_three_d_secure_completes_or_fails(pay: Pay, success: bool) -> None:
    cid = await pay.checkout_at_review(await pay.three_ds())
    await pay.confirm_order(cid)
    pending = await pay.pay(cid)
    assert pending["state"] == "payment_requires_action"
    assert pending["next_action"] is not None
    view = await pay.state(cid)
    assert view["context"]["payment"]["status"] == "requires_action"
    result = await pay.authenticate(cid, success)
    if success:
        assert result["state"] == "order_confirmation" and result["order_id"]
        assert len(await pay.orders()) == 1
    else:
        assert result["state"] == "payment_failed"
        assert result["decline_code"] == "payment_intent_authentication_failure"
        assert await pay.orders() == []


async def test_registered_purchase_shows_in_order_history(pay: Pay, user_api: Api) -> None:
    pay.api = user_api
    await fill_cart(user_api, pay.rt)
    cid = str((await start(user_api))["id"])
    for type_, fields in [
        ("SELECT_REGISTERED", {}),
        ("SUBMIT_SHIPPING", {"address": NY}),
        ("USE_SHIPPING_ADDRESS", {}),
    ]:  # fmt: skip
        r = await send(user_api, cid, type_, **fields)
        assert r.status_code == 200, r.text
    options = (await user_api.get(f"/api/checkout/{cid}/shipping-options")).json()["items"]
    await send(user_api, cid, "SELECT_SHIPPING", shipping_method_id=options[0]["id"])
    await send(user_api, cid, "SELECT_PAYMENT",
               payment_method={"type": "card", "payment_method_id": pay.ok})  # fmt: skip
    await pay.confirm_order(cid)
    result = await pay.pay(cid)
    assert result["state"] == "order_confirmation"
    history = (await user_api.get("/api/orders")).json()["items"]
    assert [o["id"] for o in history] == [result["order_id"]]
    assert history[0]["email"] == "customer@shop.example.com"


async def test_webhook_before_the_browser_creates_the_order_once(pay: Pay) -> None:
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    # Stripe.js confirmed in the browser; the webhook arrives before the browser returns.
    await pay.gateway.confirm_payment_intent(intent_id, idempotency_key="browser")
    await pay.webhook(intent_id, "payment_intent.succeeded")
    assert (await pay.state(cid))["state"] == "order_confirmation"
    browser = await pay.pay(cid)
    assert browser["state"] == "order_confirmation"
    orders = await pay.orders()
    assert len(orders) == 1 and browser["order_id"] == orders[0].id


async def test_webhook_after_twice_and_out_of_order_never_duplicates_or_undoes(pay: Pay) -> None:
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    event = await pay.webhook(intent_id, "payment_intent.succeeded")
    await pay.webhook(intent_id, "payment_intent.succeeded", event_id=event["id"])  # replay
    await pay.webhook(intent_id, "payment_intent.succeeded")  # same news, new event id
    stale_failure = {
        **await pay.intent_json(intent_id),
        "status": "requires_payment_method",
        "last_payment_error": {"code": "card_declined", "message": "Declined"},
    }
    await pay.webhook(intent_id, "payment_intent.payment_failed", obj=stale_failure)
    orders = await pay.orders()
    assert len(orders) == 1 and orders[0].status == "paid"
    assert (await pay.state(cid))["state"] == "order_confirmation"
    async with pay.rt.db.transaction() as s:
        attempt = await s.scalar(
            select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == intent_id)
        )
        assert attempt is not None and attempt.status == "succeeded"


async def test_the_order_and_its_payment_attempt_agree_before_any_webhook(pay: Pay) -> None:
    if isinstance(pay.gateway, SandboxGateway):
        pay.gateway.delivery_delay = 60.0  # no webhook arrives during this test
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    async with pay.rt.db.transaction() as s:
        status = await s.scalar(
            select(PaymentAttempt.status).where(PaymentAttempt.payment_intent_id == intent_id)
        )
    assert status == "succeeded"
    assert len(await pay.orders()) == 1


@pytest.mark.parametrize("recovered_by", ["webhook", "sweeper"])
async def test_crash_between_payment_and_order_is_recovered_exactly_once(
    pay: Pay, clock: MovableClock, monkeypatch: pytest.MonkeyPatch, recovered_by: str
) -> None:
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    real_insert = completion.insert_order_rows

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("process killed while finalizing")

    monkeypatch.setattr(completion, "insert_order_rows", crash)
    with pytest.raises(RuntimeError):
        await pay.api.post("/api/payment/confirm", json={"checkout_id": cid})
    await pay.settle()
    assert (await pay.state(cid))["state"] == "payment_success"
    assert await pay.orders() == []
    monkeypatch.setattr(completion, "insert_order_rows", real_insert)
    if recovered_by == "webhook":
        await pay.webhook(intent_id, "payment_intent.succeeded")
    else:
        # Past the sweeper's grace (30 s) by any clock: some row writes take the database's
        # own now() rather than the test clock.
        clock.advance(minutes=5)
        results = await run_sweep(pay.rt)
        assert results["payments"] == 1
        assert (await run_sweep(pay.rt))["payments"] == 0
    orders = await pay.orders()
    assert len(orders) == 1 and orders[0].payment_intent_id == intent_id
    assert (await pay.state(cid))["state"] == "order_confirmation"


async def test_payment_velocity_limit_per_checkout(pay: Pay) -> None:
    pay.rt.settings.payment_max_attempts_per_checkout = 2
    cid = await pay.checkout_at_review(pay.decline)
    for _ in range(2):
        await pay.confirm_order(cid)
        assert (await pay.pay(cid))["state"] == "payment_failed"
        await send(pay.api, cid, "RETRY_PAYMENT")
        await send(pay.api, cid, "SELECT_PAYMENT",
                   payment_method={"type": "card", "payment_method_id": pay.decline})  # fmt: skip
    refused = await send(pay.api, cid, "CONFIRM_ORDER")
    assert refused.status_code == 429
    assert error_code(refused) == "payment_velocity_exceeded"
    assert refused.headers["Retry-After"]
    assert (await pay.state(cid))["state"] == "order_review"


async def test_create_intent_gives_stripe_js_the_client_secret(pay: Pay) -> None:
    cid = await pay.checkout_at_review()
    early = await pay.api.post("/api/payment/create-intent", json={"checkout_id": cid})
    assert early.status_code == 409 and error_code(early) == "payment_not_started"
    await pay.confirm_order(cid)
    body = (await pay.api.post("/api/payment/create-intent", json={"checkout_id": cid})).json()
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert body["gateway"] == pay.backend
    assert json.dumps(body)


async def test_other_sessions_cannot_pay_or_read_someone_elses_checkout(
    pay: Pay, new_api: Any
) -> None:
    cid = await pay.checkout_at_review()
    await pay.confirm_order(cid)
    other: Api = await new_api()
    for path in ("/api/payment/confirm", "/api/payment/create-intent"):
        r = await other.post(path, json={"checkout_id": cid})
        assert error_code(r) == "checkout_not_found"


async def test_recurring_product_starts_a_subscription_after_the_first_paid_period(
    pay: Pay,
) -> None:
    from tests import factories
    from tillpoint.catalog.models import Product
    from tillpoint.orders.models import SubscriptionRecord

    product = await factories.product(pay.rt, price=1500, name="Coffee club")
    async with pay.rt.db.transaction() as s:
        row = await s.get(Product, product.id)
        assert row is not None
        row.meta = {"recurring": {"interval": "month", "interval_count": 1}}
    r = await pay.api.post("/api/cart/items", json={"product_id": product.id, "quantity": 1})
    assert r.status_code == 200, r.text
    cid = str((await start(pay.api))["id"])
    await to_state(pay.api, cid, "order_review")
    await pay.confirm_order(cid)
    result = await pay.pay(cid)
    assert result["state"] == "order_confirmation"
    order_id = result["order_id"]
    again = await pay.pay(cid)  # finalize again: still one subscription
    assert again["order_id"] == order_id
    async with pay.rt.db.transaction() as s:
        subs = list(await s.scalars(select(SubscriptionRecord)))
    assert [(x.order_id, x.paid_invoices) for x in subs] == [(order_id, 0)]
    assert subs[0].gateway_subscription_id.startswith("sub_")
    # The next period's invoice is paid: the record follows the webhook.
    from tests.payment_support import stripe_event

    invoice = stripe_event(
        "invoice.paid",
        {"id": "in_next", "object": "invoice", "subscription": subs[0].gateway_subscription_id,
         "customer": subs[0].gateway_customer_id},
    )  # fmt: skip
    secret = SANDBOX_SECRET if pay.backend == "sandbox" else WEBHOOK_SECRET
    body, headers = signed(invoice, secret)
    assert (await pay.api.post("/api/webhooks/stripe/invoice-paid", content=body,
                               headers=headers)).status_code == 200  # fmt: skip
    async with pay.rt.db.transaction() as s:
        sub = await s.get(SubscriptionRecord, subs[0].id)
        assert sub is not None and sub.paid_invoices == 1 and sub.status == "active"


async def test_browser_webhooks_and_sweeper_racing_make_exactly_one_order(
    pay: Pay, clock: MovableClock
) -> None:
    import asyncio

    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    await pay.gateway.confirm_payment_intent(intent_id, idempotency_key="browser")
    clock.advance(seconds=31)
    results = await asyncio.gather(
        pay.pay(cid),
        pay.pay(cid),
        pay.webhook(intent_id, "payment_intent.succeeded"),
        pay.webhook(intent_id, "payment_intent.succeeded"),
        run_sweep(pay.rt),
        payment_sync.sync_payment(pay.rt, cid),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    orders = await pay.orders()
    assert len(orders) == 1
    assert (await pay.state(cid))["state"] == "order_confirmation"
    async with pay.rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


# --- a webhook never moves a checkout past what the gateway itself says ------------------


async def test_a_signed_success_for_an_unconfirmed_intent_moves_nothing(pay: Pay) -> None:
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    # Correctly signed, but the intent was never confirmed: the gateway says otherwise.
    unconfirmed = await pay.intent_json(intent_id)
    processing = {**unconfirmed, "status": "processing"}
    await pay.webhook(intent_id, "payment_intent.processing", obj=processing)
    assert await attempt_status(pay.rt, intent_id) == "requires_confirmation"
    await pay.webhook(
        intent_id, "payment_intent.succeeded", obj={**unconfirmed, "status": "succeeded"}
    )
    view = await pay.state(cid)
    assert view["state"] == "payment_processing"
    assert view["context"]["payment"]["status"] == "requires_confirmation"
    assert await attempt_status(pay.rt, intent_id) == "requires_confirmation"
    # The shopper's own confirmation then pays, once.
    result = await pay.pay(cid)
    assert result["state"] == "order_confirmation" and result["order_id"]
    orders = await pay.orders()
    assert [o.payment_intent_id for o in orders] == [intent_id]


async def test_a_signed_success_for_an_older_attempts_intent_moves_nothing(pay: Pay) -> None:
    cid = await pay.checkout_at_review(pay.decline)
    old = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    assert (await pay.pay(cid))["state"] == "payment_failed"
    await send(pay.api, cid, "RETRY_PAYMENT")
    await send(pay.api, cid, "SELECT_PAYMENT",
               payment_method={"type": "card", "payment_method_id": pay.ok})  # fmt: skip
    current = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    forged = {**await pay.intent_json(old), "status": "succeeded", "last_payment_error": None}
    await pay.webhook(old, "payment_intent.succeeded", obj=forged)
    view = await pay.state(cid)
    assert view["state"] == "payment_processing"
    assert view["context"]["payment"]["intent_id"] == current
    assert await attempt_status(pay.rt, old) == "canceled"
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    assert [o.payment_intent_id for o in await pay.orders()] == [current]


async def test_a_signed_event_for_an_intent_the_gateway_does_not_know_changes_nothing(
    pay: Pay,
) -> None:
    cid = await pay.checkout_at_review()
    intent_id = (await pay.confirm_order(cid))["context"]["payment"]["intent_id"]
    stranger = {
        **await pay.intent_json(intent_id),
        "id": "pi_NotFromThisShop0000000000",
        "status": "succeeded",
        "metadata": {"checkout_id": cid, "attempt": "1"},
    }
    await pay.webhook(stranger["id"], "payment_intent.succeeded", obj=stranger)
    assert (await pay.state(cid))["state"] == "payment_processing"
    assert (await pay.pay(cid))["state"] == "order_confirmation"
    assert len(await pay.orders()) == 1


# --- paid after the stock hold lapsed: refunded, and the shopper is told -------------------


async def _last_one_at_review(pay: Pay) -> tuple[str, str]:
    """A checkout of the last unit of a product, at order review with the good card."""
    product = await factories.product(pay.rt, price=1500, weight_grams=300)
    await adjust_stock(pay.rt, product.id, on_hand=1, reason="the last one")
    r = await pay.api.post("/api/cart/items", json={"product_id": product.id, "quantity": 1})
    assert r.status_code == 200, r.text
    cid = str((await start(pay.api))["id"])
    await to_state(pay.api, cid, "payment_method")
    r = await send(pay.api, cid, "SELECT_PAYMENT",
                   payment_method={"type": "card", "payment_method_id": pay.ok})  # fmt: skip
    assert r.status_code == 200, r.text
    return cid, product.id


async def _hold_lapses_and_the_last_one_sells(pay: Pay, clock: MovableClock, product: str) -> None:
    clock.advance(seconds=pay.rt.settings.inventory_reservation_ttl_seconds + 1)
    assert await expire_reservations(pay.rt) == 1
    await adjust_stock(pay.rt, product, on_hand=0, reason="sold in the shop")


async def _assert_refunded_and_told(
    pay: Pay,
    clock: MovableClock,
    cid: str,
    payment: dict[str, Any],
    product: str,
    reason: str = "out_of_stock",
) -> None:
    view = await pay.state(cid)
    assert view["state"] == "payment_refunded" and view["allowed_events"] == []
    told = view["context"]["payment"]
    refund = told["refund"]
    assert told["status"] == "refunded" and refund["reason"] == reason
    assert "refunded" in refund["message"]
    assert reason != "out_of_stock" or "sold out" in refund["message"]
    assert (refund["amount"], refund["currency"]) == (payment["amount"], payment["currency"])
    # The records agree: no order, the money back at the gateway, the attempt and the audit.
    assert await pay.orders() == []
    assert await pay.refunded(payment["intent_id"]) == payment["amount"]
    assert await attempt_status(pay.rt, payment["intent_id"]) == "refunded"
    given_back, _ = await query_logs(
        pay.rt, AuditLogFilters(event_types=["payment_refunded_without_order"])
    )
    assert [(r.entity_id, r.meta["reason"], r.meta["refund_id"], r.meta["amount"])
            for r in given_back] == [
        (payment["intent_id"], reason, refund["id"], payment["amount"])
    ]  # fmt: skip
    moved, _ = await query_logs(
        pay.rt, AuditLogFilters(event_types=["checkout_payment_refunded"], entity_id=cid)
    )
    assert len(moved) == 1
    # Nothing is left for the sweeper, and the cart can be checked out again once restocked.
    clock.advance(minutes=5)
    assert (await run_sweep(pay.rt))["payments"] == 0
    assert (await pay.state(cid))["state"] == "payment_refunded"
    await adjust_stock(pay.rt, product, on_hand=3, reason="restocked")
    again = await pay.api.post("/api/checkout")
    assert again.status_code == 201 and again.json()["id"] != cid


async def test_paid_after_the_hold_lapsed_and_sold_out_ends_refunded_and_says_why(
    pay: Pay, clock: MovableClock
) -> None:
    if isinstance(pay.gateway, SandboxGateway):
        pay.gateway.delivery_delay = 60.0  # this is the browser's path: no webhook meanwhile
    cid, product = await _last_one_at_review(pay)
    payment = (await pay.confirm_order(cid))["context"]["payment"]
    await _hold_lapses_and_the_last_one_sells(pay, clock, product)
    result = await pay.pay(cid)
    assert result["state"] == "payment_refunded" and result["order_id"] is None
    assert result["refund"]["reason"] == "out_of_stock"
    await _assert_refunded_and_told(pay, clock, cid, payment, product)
    again = await pay.pay(cid)  # the browser asking again changes nothing
    assert again["state"] == "payment_refunded"
    assert await pay.refunded(payment["intent_id"]) == payment["amount"]


@pytest.mark.parametrize("finalized_by", ["webhook", "sweeper"])
async def test_paid_in_the_browser_after_the_hold_lapsed_is_refunded_by_webhook_or_sweeper(
    pay: Pay, clock: MovableClock, finalized_by: str
) -> None:
    if isinstance(pay.gateway, SandboxGateway):
        pay.gateway.delivery_delay = 60.0  # delivered below, explicitly
    cid, product = await _last_one_at_review(pay)
    payment = (await pay.confirm_order(cid))["context"]["payment"]
    await _hold_lapses_and_the_last_one_sells(pay, clock, product)
    # Stripe.js confirmed the payment in the browser, which then went away.
    await pay.gateway.confirm_payment_intent(payment["intent_id"], idempotency_key="browser")
    if finalized_by == "webhook":
        await pay.webhook(payment["intent_id"], "payment_intent.succeeded")
    else:
        clock.advance(minutes=5)
        assert (await run_sweep(pay.rt))["payments"] == 0  # no order could be made
    await _assert_refunded_and_told(pay, clock, cid, payment, product)


async def test_a_refund_claim_left_by_a_crashed_path_is_taken_over_after_its_lease(
    pay: Pay, clock: MovableClock
) -> None:
    if isinstance(pay.gateway, SandboxGateway):
        pay.gateway.delivery_delay = 60.0  # no webhook: the sweeper is the only other path
    cid, product = await _last_one_at_review(pay)
    payment = (await pay.confirm_order(cid))["context"]["payment"]
    await _hold_lapses_and_the_last_one_sells(pay, clock, product)
    await pay.gateway.confirm_payment_intent(payment["intent_id"], idempotency_key="browser")
    # A path claimed the refund, committed the claim, and died before asking the gateway.
    async with pay.rt.db.transaction() as s:
        await s.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.payment_intent_id == payment["intent_id"])
            .values(status="refunding", updated_at=clock.now())
        )
    clock.advance(minutes=2)  # past the sweeper's grace, inside the claim's lease
    assert (await run_sweep(pay.rt))["payments"] == 0
    assert await pay.refunded(payment["intent_id"]) == 0
    assert (await pay.state(cid))["state"] == "payment_success"
    clock.advance(minutes=4)  # the claim is abandoned now: the sweeper takes it over
    assert (await run_sweep(pay.rt))["payments"] == 0
    # The sweeper sees a payment already being given back, so it says no more than that.
    await _assert_refunded_and_told(pay, clock, cid, payment, product, "payment_refunded")
