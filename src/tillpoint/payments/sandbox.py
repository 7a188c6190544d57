"""The offline sandbox gateway: Stripe test mode without the network.

It answers the well-known test payment methods the way Stripe test mode does
(``pm_card_visa`` succeeds, ``pm_card_chargeDeclined`` declines with a decline code,
``pm_card_threeDSecure2Required`` asks for 3-D Secure, which :meth:`authenticate`
completes or fails), uses Stripe's intent statuses, and emits Stripe-shaped webhook
events signed with Stripe's scheme (``t=…,v1=HMAC-SHA256``) so one verification
path serves both backends.

State lives in this process's memory: it is the default for the one-instance
``make demo`` and for tests, not for a fleet of app servers (use Stripe there). What it
keeps per purchase is bounded so a long-lived worker does not grow: the event log keeps
the last ``event_log`` events, the idempotent answers the last ``idempotency_keys`` keys
(Stripe keeps a key 24 hours; here the oldest key is forgotten first, and a request
repeated after that makes a new object, as one repeated after 24 hours does at Stripe).
Intents are kept (compact) for as long as the process lives: old orders refund by them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import string
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tillpoint.payments.gateway import (
    PRIMARY,
    CreateIntent,
    CustomerNotFound,
    CustomerResult,
    GatewayRejected,
    IntentStatus,
    PaymentIntentResult,
    PaymentMethodDeclined,
    PaymentMethodNotFound,
    RecurringPrice,
    RefundResult,
    SavedPaymentMethod,
    SetupIntentResult,
    SubscriptionResult,
)

Deliverer = Callable[[bytes, str], Coroutine[Any, Any, None]]

_PERIOD_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


@dataclass(frozen=True, slots=True)
class TestCard:
    """How one test payment method behaves."""

    brand: str
    last4: str
    decline_code: str | None = None
    requires_action: bool = False
    risk_level: str = "normal"
    declines_on_attach: bool = False


# Stripe's documented test PaymentMethod ids (docs.stripe.com/testing).
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard("visa", "0002", decline_code="generic_decline"),
    "pm_card_visa_chargeDeclined": TestCard(
        "visa", "0002", decline_code="generic_decline", declines_on_attach=True
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", decline_code="insufficient_funds"
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard("visa", "0069", decline_code="expired_card"),
    "pm_card_threeDSecure2Required": TestCard("visa", "3155", requires_action=True),
    "pm_card_authenticationRequired": TestCard("visa", "3184", requires_action=True),
    "pm_card_riskLevelElevated": TestCard("visa", "9235", risk_level="elevated"),
    "pm_card_riskLevelHighest": TestCard("visa", "0019", risk_level="highest"),
}

_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "payment_intent_authentication_failure": (
        "The provided PaymentMethod has failed authentication."
    ),
}


_ID_ALPHABET = string.ascii_letters + string.digits
# 12 digits in a row could read as part of a card number to the scrubber, which would then
# redact the id in audit rows and logs (hex ids had such runs in ~5 % of cases).
_DIGIT_RUN = re.compile(r"\d{12}")


def _tail() -> str:
    """24 random letters and digits, as Stripe's ids end, never a long run of digits."""
    while True:
        tail = "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))
        if not _DIGIT_RUN.search(tail):
            return tail


def _id(prefix: str) -> str:
    return f"{prefix}_{_tail()}"


def _fingerprint(pm_id: str) -> str:
    # Stable per test card, like Stripe's per-card-number fingerprint.
    return hashlib.sha256(pm_id.encode()).hexdigest()[:16]


def _wake(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value for ``payload`` (Stripe's v1 scheme)."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# Defaults of the bounds (see the module docstring); a few minutes of a busy worker's
# purchases, far more than any retry or webhook redelivery needs.
EVENT_LOG_SIZE = 1000
IDEMPOTENCY_KEYS = 10_000


@dataclass(slots=True)
class _Intent:
    id: str
    amount: int
    currency: str
    client_secret: str
    metadata: dict[str, str]
    customer_id: str | None
    payment_method_id: str | None = None
    status: IntentStatus = IntentStatus.requires_payment_method
    decline_code: str | None = None
    decline_message: str | None = None
    charge_id: str | None = None
    risk_level: str | None = None
    refunded: int = 0

    def result(self) -> PaymentIntentResult:
        card = TEST_CARDS.get(self.payment_method_id or "")
        next_action = (
            {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            if self.status is IntentStatus.requires_action
            else None
        )
        return PaymentIntentResult(
            id=self.id,
            status=self.status,
            amount=self.amount,
            currency=self.currency,
            client_secret=self.client_secret,
            account=PRIMARY,
            payment_method_id=self.payment_method_id,
            customer_id=self.customer_id,
            next_action=next_action,
            decline_code=self.decline_code,
            decline_message=self.decline_message,
            risk_level=self.risk_level,
            card_fingerprint=_fingerprint(self.payment_method_id or "") if card else None,
            card_brand=card.brand if card else None,
            card_last4=card.last4 if card else None,
            latest_charge_id=self.charge_id,
            metadata=dict(self.metadata),
        )

    def as_stripe(self) -> dict[str, Any]:
        """The intent as Stripe's JSON (what a webhook's ``data.object`` holds)."""
        error = (
            {
                "code": "card_declined"
                if self.decline_code != "payment_intent_authentication_failure"
                else self.decline_code,
                "decline_code": self.decline_code,
                "message": self.decline_message,
            }
            if self.decline_code
            else None
        )
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": self.amount if self.status is IntentStatus.succeeded else 0,
            "currency": self.currency.lower(),
            "status": self.status.value,
            "customer": self.customer_id,
            "payment_method": self.payment_method_id,
            "latest_charge": self.charge_id,
            "last_payment_error": error,
            "metadata": dict(self.metadata),
            "livemode": False,
        }


@dataclass(frozen=True, slots=True)
class _IntentAnswer:
    """An intent as one call answered it, kept small for idempotent replays: the fields a
    later call can change, as they were then; the rest is read from the intent itself
    (a few references instead of a full result with its own copy of the metadata)."""

    intent: _Intent
    status: IntentStatus
    amount: int
    payment_method_id: str | None
    decline_code: str | None
    decline_message: str | None
    charge_id: str | None
    risk_level: str | None

    @classmethod
    def of(cls, intent: _Intent) -> _IntentAnswer:
        return cls(
            intent, intent.status, intent.amount, intent.payment_method_id,
            intent.decline_code, intent.decline_message, intent.charge_id, intent.risk_level,
        )  # fmt: skip

    def result(self) -> PaymentIntentResult:
        then = replace(
            self.intent, status=self.status, amount=self.amount,
            payment_method_id=self.payment_method_id, decline_code=self.decline_code,
            decline_message=self.decline_message, charge_id=self.charge_id,
            risk_level=self.risk_level,
        )  # fmt: skip
        return then.result()


class SandboxGateway:
    """:class:`~tillpoint.payments.gateway.PaymentGateway` that never leaves the process."""

    name = "sandbox"

    def __init__(
        self,
        webhook_secret: str,
        *,
        delivery_delay: float = 0.0,
        event_log: int | None = EVENT_LOG_SIZE,
        idempotency_keys: int = IDEMPOTENCY_KEYS,
    ) -> None:
        """``event_log``: how many of the latest events :attr:`events` keeps (None: all,
        for tests that replay every event); ``idempotency_keys``: how many keys' first
        answers are kept (oldest forgotten first)."""
        if idempotency_keys < 1 or (event_log is not None and event_log < 0):
            raise ValueError("the sandbox's bounds must be positive")
        self.webhook_secret = webhook_secret
        # Stripe posts an event about a second after the API call that caused it: by then
        # the browser's own confirmation has usually finalized, and the webhook finds the
        # order made. Delivering at once would race that confirmation in the same loop
        # (both take the checkout's lock; one waits, then re-reads and retries).
        self.delivery_delay = delivery_delay
        self._wakers: dict[asyncio.Future[None], None] = {}  # in emission order
        self._intents: dict[str, _Intent] = {}
        self._idempotent: OrderedDict[str, Any] = OrderedDict()
        self._idempotency_keys = idempotency_keys
        self._customers: dict[str, CustomerResult] = {}
        self._attached: dict[str, str] = {}  # payment method id -> customer id
        self._subscriptions: dict[str, SubscriptionResult] = {}
        self._deliverers: list[Deliverer] = []
        self._pending: set[asyncio.Task[None]] = set()
        # The latest events, oldest first (deliveries do not read it: it is for tests).
        self.events: deque[dict[str, Any]] = deque(maxlen=event_log)

    @property
    def publishable_key(self) -> str | None:
        return None

    def webhook_secrets(self) -> list[str]:
        return [self.webhook_secret]

    # --- webhooks -----------------------------------------------------------------------

    def subscribe(self, deliverer: Deliverer) -> None:
        """Deliver every future event (signed body, ``Stripe-Signature``) to ``deliverer``."""
        self._deliverers.append(deliverer)

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        created = int(time.time())
        event: dict[str, Any] = {
            "id": _id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "type": event_type,
            "created": created,
            "livemode": False,
            "data": {"object": obj},
        }
        self.events.append(event)
        if not self._deliverers:
            return
        payload = json.dumps(event).encode()
        signature = sign_payload(payload, self.webhook_secret, created)
        loop = asyncio.get_running_loop()
        for deliver in self._deliverers:
            # Delivered later, as Stripe does: never inside the caller's transaction.
            task = loop.create_task(self._deliver_later(deliver, payload, signature))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _deliver_later(self, deliver: Deliverer, payload: bytes, signature: str) -> None:
        if self.delivery_delay > 0:
            loop = asyncio.get_running_loop()
            waker: asyncio.Future[None] = loop.create_future()
            self._wakers[waker] = None
            timer = loop.call_later(self.delivery_delay, _wake, waker)
            try:
                await waker
            finally:
                timer.cancel()
                self._wakers.pop(waker, None)
        await deliver(payload, signature)

    async def drain(self) -> None:
        """Deliver every scheduled webhook now, without its delay, and wait until all have
        finished (tests, benchmarks, shutdown)."""
        while self._pending:
            for waker in list(self._wakers):  # in the order they were emitted
                _wake(waker)
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        # The gather's future (and so every task it waited for) stays referenced by the
        # loop step that resumed us until that step ends: end it here, not in the caller.
        await asyncio.sleep(0)

    # --- intents ------------------------------------------------------------------------

    def _get(self, intent_id: str) -> _Intent:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise GatewayRejected(f"No such payment_intent: {intent_id}", code="resource_missing")
        return intent

    def _once(self, key: str | None, make: Callable[[], Any]) -> Any:
        """Stripe's idempotency: the same key answers the first result again."""
        if key is None:
            return make()
        if key in self._idempotent:
            return self._idempotent[key]
        answer = self._idempotent[key] = make()
        while len(self._idempotent) > self._idempotency_keys:
            self._idempotent.popitem(last=False)  # the oldest key: its window is over
        return answer

    async def create_payment_intent(self, request: CreateIntent) -> PaymentIntentResult:
        if request.amount <= 0:
            raise GatewayRejected("Amount must be positive.", code="amount_too_small")
        if request.payment_method_id is not None:
            self._check_method(request.payment_method_id)

        def make() -> _IntentAnswer:
            intent_id = _id("pi")
            intent = _Intent(
                id=intent_id,
                amount=request.amount,
                currency=sys.intern(request.currency.upper()),  # one string per currency
                client_secret=f"{intent_id}_secret_{_tail()}",
                metadata=dict(request.metadata),
                customer_id=request.customer_id,
                payment_method_id=request.payment_method_id,
                status=IntentStatus.requires_confirmation
                if request.payment_method_id
                else IntentStatus.requires_payment_method,
            )
            self._intents[intent_id] = intent
            self._emit("payment_intent.created", intent.as_stripe())
            return _IntentAnswer.of(intent)

        answer: _IntentAnswer = self._once(f"{request.idempotency_key}:create", make)
        created = answer.result()
        if not request.confirm:
            return created
        return await self.confirm_payment_intent(
            created.id, idempotency_key=request.idempotency_key
        )

    def _check_method(self, payment_method_id: str) -> TestCard:
        card = TEST_CARDS.get(payment_method_id)
        if card is None:
            raise PaymentMethodNotFound(
                "No such payment method (the sandbox knows Stripe's test methods, "
                "e.g. pm_card_visa)."
            )
        return card

    async def update_payment_intent(
        self,
        intent_id: str,
        *,
        account: str = PRIMARY,
        amount: int | None = None,
        payment_method_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentIntentResult:
        intent = self._get(intent_id)
        if intent.status in (IntentStatus.succeeded, IntentStatus.canceled):
            raise GatewayRejected(
                f"This PaymentIntent's status is {intent.status.value}; it cannot be updated.",
                code="payment_intent_unexpected_state",
            )
        if amount is not None:
            intent.amount = amount
        if payment_method_id is not None:
            self._check_method(payment_method_id)
            intent.payment_method_id = payment_method_id
            intent.status = IntentStatus.requires_confirmation
        if metadata:
            intent.metadata.update(metadata)
        return intent.result()

    async def confirm_payment_intent(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        account: str = PRIMARY,
        payment_method_id: str | None = None,
    ) -> PaymentIntentResult:
        if payment_method_id is not None:
            await self.update_payment_intent(intent_id, payment_method_id=payment_method_id)

        def make() -> _IntentAnswer:
            intent = self._get(intent_id)
            if intent.status is not IntentStatus.requires_confirmation:
                raise GatewayRejected(
                    f"This PaymentIntent's status is {intent.status.value}; "
                    "it cannot be confirmed.",
                    code="payment_intent_unexpected_state",
                )
            card = self._check_method(intent.payment_method_id or "")
            intent.decline_code = intent.decline_message = None
            if card.requires_action:
                intent.status = IntentStatus.requires_action
                self._emit("payment_intent.requires_action", intent.as_stripe())
            else:
                self._charge(intent, card)
            return _IntentAnswer.of(intent)

        answer: _IntentAnswer = self._once(f"{idempotency_key}:confirm", make)
        return answer.result()

    def _charge(self, intent: _Intent, card: TestCard) -> None:
        intent.charge_id = _id("ch")
        if card.decline_code:
            self._decline(intent, card.decline_code)
            return
        intent.status = IntentStatus.succeeded
        intent.risk_level = card.risk_level
        self._emit("charge.succeeded", {"id": intent.charge_id, "object": "charge"})
        self._emit("payment_intent.succeeded", intent.as_stripe())

    def _decline(self, intent: _Intent, code: str) -> None:
        intent.status = IntentStatus.requires_payment_method
        intent.decline_code = code
        intent.decline_message = _DECLINE_MESSAGES.get(code, "Your card was declined.")
        self._emit("payment_intent.payment_failed", intent.as_stripe())

    async def authenticate(self, intent_id: str, *, success: bool) -> PaymentIntentResult:
        """The customer completes (or fails) the 3-D Secure challenge."""
        intent = self._get(intent_id)
        if intent.status is not IntentStatus.requires_action:
            raise GatewayRejected(
                "This PaymentIntent is not waiting for authentication.",
                code="payment_intent_unexpected_state",
            )
        if success:
            card = self._check_method(intent.payment_method_id or "")
            self._charge(intent, replace(card, requires_action=False))
        else:
            intent.payment_method_id = None
            self._decline(intent, "payment_intent_authentication_failure")
        return intent.result()

    async def retrieve_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        return self._get(intent_id).result()

    async def cancel_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        intent = self._get(intent_id)
        if intent.status in (IntentStatus.succeeded, IntentStatus.canceled):
            raise GatewayRejected(
                f"This PaymentIntent's status is {intent.status.value}; it cannot be canceled.",
                code="payment_intent_unexpected_state",
            )
        intent.status = IntentStatus.canceled
        self._emit("payment_intent.canceled", intent.as_stripe())
        return intent.result()

    async def refund(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        account: str = PRIMARY,
        metadata: Mapping[str, str] | None = None,
    ) -> RefundResult:
        def make() -> RefundResult:
            intent = self._get(intent_id)
            if intent.status is not IntentStatus.succeeded:
                raise GatewayRejected(
                    "Only a succeeded payment can be refunded.", code="charge_not_refundable"
                )
            remaining = intent.amount - intent.refunded
            value = remaining if amount is None else amount
            if value <= 0 or value > remaining:
                raise GatewayRejected(
                    f"Refund amount {value} exceeds the {remaining} still refundable.",
                    code="amount_too_large",
                )
            intent.refunded += value
            refund = RefundResult(
                id=_id("re"),
                payment_intent_id=intent_id,
                amount=value,
                currency=intent.currency,
                status="succeeded",
            )
            self._emit(
                "charge.refunded",
                {
                    "id": intent.charge_id,
                    "object": "charge",
                    "payment_intent": intent_id,
                    "amount_refunded": intent.refunded,
                    "refunded": intent.refunded == intent.amount,
                },
            )
            return refund

        result: RefundResult = self._once(f"{idempotency_key}:refund", make)
        return result

    # --- customers, saved methods, subscriptions ------------------------------------------

    async def create_customer(
        self, *, email: str, name: str | None, idempotency_key: str, metadata: Mapping[str, str]
    ) -> CustomerResult:
        def make() -> CustomerResult:
            customer = CustomerResult(id=_id("cus"), email=email)
            self._customers[customer.id] = customer
            return customer

        result: CustomerResult = self._once(f"{idempotency_key}:customer", make)
        return result

    def _customer(self, customer_id: str) -> CustomerResult:
        customer = self._customers.get(customer_id)
        if customer is None:
            raise CustomerNotFound(f"No such customer: {customer_id}")
        return customer

    async def create_setup_intent(
        self, customer_id: str, *, idempotency_key: str
    ) -> SetupIntentResult:
        self._customer(customer_id)

        def make() -> SetupIntentResult:
            setup_id = _id("seti")
            return SetupIntentResult(
                id=setup_id,
                status="requires_payment_method",
                client_secret=f"{setup_id}_secret_{_tail()}",
                customer_id=customer_id,
            )

        result: SetupIntentResult = self._once(f"{idempotency_key}:setup", make)
        return result

    def _saved(self, payment_method_id: str) -> SavedPaymentMethod:
        card = self._check_method(payment_method_id)
        return SavedPaymentMethod(
            id=payment_method_id,
            customer_id=self._attached.get(payment_method_id),
            brand=card.brand,
            last4=card.last4,
            exp_month=12,
            exp_year=2034,
            fingerprint=_fingerprint(payment_method_id),
        )

    async def retrieve_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        return self._saved(payment_method_id)

    async def list_payment_methods(self, customer_id: str) -> list[SavedPaymentMethod]:
        self._customer(customer_id)
        return [self._saved(pm) for pm, owner in self._attached.items() if owner == customer_id]

    async def attach_payment_method(
        self, payment_method_id: str, customer_id: str
    ) -> SavedPaymentMethod:
        self._customer(customer_id)
        card = self._check_method(payment_method_id)
        if card.declines_on_attach:
            raise PaymentMethodDeclined(
                "This card was declined.", details={"decline_code": "card_declined"}
            )
        self._attached[payment_method_id] = customer_id
        return self._saved(payment_method_id)

    async def detach_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        self._check_method(payment_method_id)
        self._attached.pop(payment_method_id, None)
        return self._saved(payment_method_id)

    async def create_subscription(
        self,
        customer_id: str,
        prices: list[RecurringPrice],
        *,
        payment_method_id: str | None,
        idempotency_key: str,
        metadata: Mapping[str, str],
        trial_end: int | None = None,
    ) -> SubscriptionResult:
        self._customer(customer_id)
        if not prices:
            raise GatewayRejected("A subscription needs at least one price.", code="missing")
        card = self._check_method(payment_method_id) if payment_method_id else None

        def make() -> SubscriptionResult:
            first = prices[0]
            period = _PERIOD_SECONDS[first.interval] * first.interval_count
            trialing = trial_end is not None
            paid = not trialing and card is not None and card.decline_code is None
            status = "trialing" if trialing else ("active" if paid else "incomplete")
            sub = SubscriptionResult(
                id=_id("sub"),
                customer_id=customer_id,
                status=status,
                current_period_end=trial_end or int(time.time()) + period,
                latest_invoice_id=_id("in"),
            )
            self._subscriptions[sub.id] = sub
            obj = {
                "id": sub.id,
                "object": "subscription",
                "customer": customer_id,
                "status": sub.status,
                "current_period_end": sub.current_period_end,
                "metadata": dict(metadata),
            }
            self._emit("customer.subscription.created", obj)
            if paid:
                total = sum(p.amount * p.quantity for p in prices)
                self._emit(
                    "invoice.paid",
                    {
                        "id": sub.latest_invoice_id,
                        "object": "invoice",
                        "customer": customer_id,
                        "subscription": sub.id,
                        "amount_paid": total,
                        "currency": first.currency.lower(),
                        "status": "paid",
                    },
                )
            return sub

        result: SubscriptionResult = self._once(f"{idempotency_key}:subscription", make)
        return result
