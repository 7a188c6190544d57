"""The payment gateway contract every backend (Stripe, the offline sandbox) fulfils.

Results are plain frozen dataclasses in Stripe's own vocabulary (intent statuses,
decline codes, Radar risk levels), so the checkout never sees an SDK object.
Amounts are integers in the currency's minor unit; currencies are ISO 4217 codes
in upper case on our side (Stripe's lower case is converted at the edge).

A decline is a *result* (status ``requires_payment_method`` with ``decline_code``),
never an exception: exceptions mean the gateway could not answer
(:class:`GatewayUnavailable`) or refused the request itself (:class:`GatewayRejected`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from tillpoint.errors import TillpointError

PRIMARY = "primary"
FALLBACK = "fallback"


class IntentStatus(StrEnum):
    """Stripe's PaymentIntent statuses."""

    requires_payment_method = "requires_payment_method"
    requires_confirmation = "requires_confirmation"
    requires_action = "requires_action"
    processing = "processing"
    requires_capture = "requires_capture"
    canceled = "canceled"
    succeeded = "succeeded"


@dataclass(frozen=True, slots=True)
class PaymentIntentResult:
    """What we keep of a PaymentIntent after every gateway call."""

    id: str
    status: IntentStatus
    amount: int
    currency: str
    client_secret: str | None
    account: str = PRIMARY
    payment_method_id: str | None = None
    customer_id: str | None = None
    next_action: dict[str, Any] | None = None
    decline_code: str | None = None
    decline_message: str | None = None
    risk_level: str | None = None
    card_fingerprint: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    latest_charge_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def declined(self) -> bool:
        """A confirmation was attempted and refused (card declined or 3-D Secure failed)."""
        return self.status is IntentStatus.requires_payment_method and bool(self.decline_code)


@dataclass(frozen=True, slots=True)
class RefundResult:
    id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: str  # Stripe's: pending, succeeded, failed, canceled
    account: str = PRIMARY


@dataclass(frozen=True, slots=True)
class SetupIntentResult:
    id: str
    status: str  # Stripe's SetupIntent statuses
    client_secret: str | None
    customer_id: str | None
    payment_method_id: str | None = None
    next_action: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SavedPaymentMethod:
    """A card stored at the gateway for a registered customer (never the number itself)."""

    id: str
    customer_id: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class CustomerResult:
    id: str
    email: str | None
    account: str = PRIMARY


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    id: str
    customer_id: str
    status: str
    current_period_end: int | None
    latest_invoice_id: str | None = None
    account: str = PRIMARY


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified webhook event: Stripe's envelope with the object as a plain dict."""

    id: str
    type: str
    created: int
    object: dict[str, Any]
    livemode: bool = False


@dataclass(frozen=True, slots=True)
class CreateIntent:
    """A request to create a PaymentIntent from server-side totals.

    ``idempotency_key`` is derived by the caller from the checkout id and attempt number,
    so a retried request returns the same intent instead of charging twice.
    """

    amount: int
    currency: str
    idempotency_key: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    payment_method_id: str | None = None
    customer_id: str | None = None
    confirm: bool = False
    receipt_email: str | None = None


@dataclass(frozen=True, slots=True)
class RecurringPrice:
    """One recurring line for a subscription: amount per interval in minor units."""

    product_name: str
    amount: int
    currency: str
    interval: str  # day, week, month, year
    interval_count: int = 1
    quantity: int = 1


class GatewayUnavailable(TillpointError):
    """Neither the primary nor the fallback account answered (network error, 5xx)."""

    code = "payment_gateway_unavailable"
    status = 503


class GatewayRejected(TillpointError):
    """The gateway refused the request itself (bad parameters, unknown object)."""

    code = "payment_gateway_rejected"
    status = 502


class PaymentMethodNotFound(GatewayRejected):
    """The gateway has no payment method with the id the customer gave: the caller's
    error (422), not the gateway's (502)."""

    code = "payment_method_not_found"
    status = 422


class WebhookRejected(TillpointError):
    """A webhook failed verification (signature, timestamp, body); nothing was changed."""

    code = "webhook_rejected"
    status = 400


class CustomerNotFound(GatewayRejected):
    """The gateway has no customer with the id we kept (a restarted sandbox, another
    Stripe account): the caller makes a new one (``payments/customers.py``)."""

    code = "customer_not_found"


class WebhookUnauthenticated(WebhookRejected):
    """A webhook's signature is missing, wrong or stale: it is not known to come from the
    gateway (401, like any request whose credentials fail)."""

    code = "webhook_signature_invalid"
    status = 401


def idempotency_key(checkout_id: str, attempt: int, operation: str) -> str:
    """The gateway idempotency key of one operation of one payment attempt of a checkout."""
    return f"tillpoint:{checkout_id}:{attempt}:{operation}"


class PaymentGateway(Protocol):
    """Everything the checkout, orders and webhooks ask of a payment processor."""

    name: str

    @property
    def publishable_key(self) -> str | None:
        """The key Stripe.js needs in the browser (``None`` for the sandbox)."""
        ...

    async def create_payment_intent(self, request: CreateIntent) -> PaymentIntentResult:
        """Create (and, with ``confirm``, confirm) an intent for ``request.amount``."""
        ...

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
        """Change an unconfirmed intent's amount, payment method or metadata."""
        ...

    async def confirm_payment_intent(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        account: str = PRIMARY,
        payment_method_id: str | None = None,
    ) -> PaymentIntentResult:
        """Confirm an intent (setting ``payment_method_id`` first if given).

        A decline comes back as a result with ``decline_code``; 3-D Secure as
        ``requires_action`` with ``next_action``.
        """
        ...

    async def retrieve_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        """The intent's current state at the gateway (the truth after 3-D Secure)."""
        ...

    async def cancel_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        """Cancel an intent that has not succeeded."""
        ...

    async def refund(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        account: str = PRIMARY,
        metadata: Mapping[str, str] | None = None,
    ) -> RefundResult:
        """Refund ``amount`` (all of it when ``None``) of a succeeded intent."""
        ...

    async def create_customer(
        self, *, email: str, name: str | None, idempotency_key: str, metadata: Mapping[str, str]
    ) -> CustomerResult:
        """Create the gateway customer a registered user's cards and subscriptions hang on."""
        ...

    async def create_setup_intent(
        self, customer_id: str, *, idempotency_key: str
    ) -> SetupIntentResult:
        """A SetupIntent for saving a card to ``customer_id`` without charging it."""
        ...

    async def retrieve_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        """A payment method's card facts (the fingerprint velocity checks count by)."""
        ...

    async def list_payment_methods(self, customer_id: str) -> list[SavedPaymentMethod]:
        """The customer's saved cards."""
        ...

    async def attach_payment_method(
        self, payment_method_id: str, customer_id: str
    ) -> SavedPaymentMethod:
        """Save a payment method to a customer (may be declined: ``PaymentMethodDeclined``)."""
        ...

    async def detach_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        """Remove a saved payment method from its customer."""
        ...

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
        """``processSubscription``: subscribe ``customer_id`` to the recurring ``prices``.

        ``trial_end`` (a Unix time) defers the first charge, e.g. when the order already
        paid the first period.
        """
        ...

    def webhook_secrets(self) -> list[str]:
        """Every secret a webhook signature may be made with (rotation: two at once)."""
        ...


class PaymentMethodDeclined(TillpointError):
    """The card was refused when saving it (Stripe's 402 on attach or setup)."""

    code = "payment_method_declined"
    status = 402
