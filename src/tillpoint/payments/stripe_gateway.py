"""Stripe through the official SDK (``stripe.StripeClient``, async methods over httpx).

- Every create/confirm/refund carries an idempotency key the caller derived from the
  checkout id and attempt number.
- The SDK retries network errors and 5xx itself (``stripe_max_network_retries``, with
  exponential backoff and jitter).
- When the primary account still cannot be reached after those retries, *new* objects
  (intents, customers) are created on the fallback account; every result names the
  account it lives on so later calls go to the same one. A decline never falls back.
- ``stripe_api_base`` points the SDK elsewhere (localstripe in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import stripe

from tillpoint.config import Settings
from tillpoint.payments.gateway import (
    FALLBACK,
    PRIMARY,
    CreateIntent,
    CustomerNotFound,
    CustomerResult,
    GatewayRejected,
    GatewayUnavailable,
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

log = logging.getLogger(__name__)

T = TypeVar("T")

# Expanded on every intent answer: the charge carries Radar's outcome, the method the card
# fingerprint the velocity checks count.
_EXPAND = ["latest_charge", "payment_method"]


class _Account:
    def __init__(self, label: str, client: Any, publishable_key: str | None) -> None:
        self.label = label
        self.client = client
        self.publishable_key = publishable_key


def _unavailable(exc: stripe.StripeError) -> bool:
    """Connection errors and 5xx mean "try elsewhere"; anything else is an answer."""
    if isinstance(exc, stripe.APIConnectionError):
        return True
    status = exc.http_status
    return isinstance(exc, stripe.APIError) and (status is None or status >= 500)


def _client(settings: Settings, api_key: str) -> Any:
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        api_key,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds),
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    data: dict[str, Any] = obj.to_dict()
    return data


def _card_of(payment_method: Any) -> dict[str, Any]:
    pm = payment_method if isinstance(payment_method, dict) else {}
    if pm.get("object") == "card":
        # A tokenised Card used as the payment method: its details are top-level.
        return pm
    card = pm.get("card")
    return card if isinstance(card, dict) else {}


def intent_from_stripe(data: Mapping[str, Any], account: str) -> PaymentIntentResult:
    """Our result from a PaymentIntent's JSON (expanded ``latest_charge``/``payment_method``)."""
    charge = data.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    outcome = charge.get("outcome") if isinstance(charge.get("outcome"), dict) else {}
    pm = data.get("payment_method")
    card = _card_of(pm)
    error = data.get("last_payment_error") or {}
    decline_code = error.get("decline_code") or error.get("code") if error else None
    status = IntentStatus(data["status"])
    if status is IntentStatus.succeeded:
        decline_code = None
    return PaymentIntentResult(
        id=str(data["id"]),
        status=status,
        amount=int(data["amount"]),
        currency=str(data["currency"]).upper(),
        client_secret=data.get("client_secret"),
        account=account,
        payment_method_id=pm.get("id") if isinstance(pm, dict) else pm,
        customer_id=data.get("customer") if isinstance(data.get("customer"), str) else None,
        next_action=data.get("next_action") or None,
        decline_code=decline_code,
        decline_message=(error.get("message") if error and decline_code else None),
        risk_level=(outcome or {}).get("risk_level"),
        card_fingerprint=card.get("fingerprint"),
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
        latest_charge_id=charge.get("id") or None,
        metadata=dict(data.get("metadata") or {}),
    )


def _saved_method(data: Mapping[str, Any]) -> SavedPaymentMethod:
    card = _card_of(dict(data))
    return SavedPaymentMethod(
        id=str(data["id"]),
        customer_id=data.get("customer") if isinstance(data.get("customer"), str) else None,
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        fingerprint=card.get("fingerprint"),
    )


class StripeGateway:
    """:class:`~tillpoint.payments.gateway.PaymentGateway` over the Stripe API."""

    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        if not settings.stripe_secret_key:
            raise ValueError("TILLPOINT_STRIPE_SECRET_KEY is required for the Stripe gateway")
        self.settings = settings
        self._accounts: dict[str, _Account] = {
            PRIMARY: _Account(
                PRIMARY,
                _client(settings, settings.stripe_secret_key),
                settings.stripe_publishable_key,
            )
        }
        if settings.stripe_fallback_secret_key:
            self._accounts[FALLBACK] = _Account(
                FALLBACK,
                _client(settings, settings.stripe_fallback_secret_key),
                settings.stripe_fallback_publishable_key,
            )

    @property
    def publishable_key(self) -> str | None:
        return self._accounts[PRIMARY].publishable_key

    def publishable_key_for(self, account: str) -> str | None:
        """The browser key of the account an intent lives on."""
        return self._account(account).publishable_key

    def webhook_secrets(self) -> list[str]:
        s = self.settings
        found = [
            s.stripe_webhook_secret,
            s.stripe_webhook_secret_previous,
            s.stripe_fallback_webhook_secret,
        ]
        return [secret for secret in found if secret]

    # --- plumbing -----------------------------------------------------------------------

    def _account(self, label: str) -> _Account:
        try:
            return self._accounts[label]
        except KeyError:
            raise GatewayRejected(f"No Stripe account {label!r} is configured.") from None

    async def _on(self, label: str, call: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``call`` on one account, mapping SDK errors to ours (declines pass through)."""
        account = self._account(label)
        try:
            return await call(account.client.v1)
        except stripe.CardError:
            raise
        except stripe.StripeError as exc:
            missing = getattr(exc, "param", None) if exc.code == "resource_missing" else None
            if missing == "payment_method":
                raise PaymentMethodNotFound("No such payment method.") from exc
            if missing == "customer":
                raise CustomerNotFound("No such customer.") from exc
            if _unavailable(exc):
                raise GatewayUnavailable(
                    "The payment provider is unavailable; try again shortly.",
                    details={"account": label},
                ) from exc
            raise GatewayRejected(
                exc.user_message or str(exc) or "The payment provider refused the request.",
                details={"stripe_code": exc.code, "http_status": exc.http_status},
            ) from exc

    async def _with_fallback(self, call: Callable[[Any], Awaitable[T]]) -> tuple[T, str]:
        """Create on the primary account, or on the fallback if the primary is unavailable."""
        try:
            return await self._on(PRIMARY, call), PRIMARY
        except GatewayUnavailable:
            if FALLBACK not in self._accounts:
                raise
            log.warning("stripe primary account unavailable; using the fallback account")
            return await self._on(FALLBACK, call), FALLBACK

    async def _intent(self, label: str, intent_id: str) -> PaymentIntentResult:
        obj = await self._on(
            label,
            lambda v1: v1.payment_intents.retrieve_async(intent_id, {"expand": _EXPAND}),
        )
        return intent_from_stripe(_as_dict(obj), label)

    # --- payment intents ----------------------------------------------------------------

    def _intent_params(self, request: CreateIntent) -> dict[str, Any]:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "metadata": dict(request.metadata),
            "payment_method_options": {
                "card": {"request_three_d_secure": self.settings.stripe_require_3ds.value}
            },
            "expand": _EXPAND,
        }
        if self.settings.stripe_automatic_payment_methods:
            # Cards, Apple Pay and Google Pay through the Payment Element.
            params["automatic_payment_methods"] = {"enabled": True}
        if request.payment_method_id:
            params["payment_method"] = request.payment_method_id
        if request.customer_id:
            params["customer"] = request.customer_id
        if request.receipt_email and self.settings.stripe_receipt_emails:
            # Stripe's own receipt, besides our confirmation (localstripe refuses the field).
            params["receipt_email"] = request.receipt_email
        return params

    async def create_payment_intent(self, request: CreateIntent) -> PaymentIntentResult:
        params = self._intent_params(request)
        options = {"idempotency_key": f"{request.idempotency_key}:create"}
        obj, label = await self._with_fallback(
            lambda v1: v1.payment_intents.create_async(params, options)
        )
        created = intent_from_stripe(_as_dict(obj), label)
        if not request.confirm:
            return created
        # Confirm as a second call (not confirm=true) so a decline still leaves us the
        # intent's id; the confirm goes to the account the intent was created on.
        return await self.confirm_payment_intent(
            created.id, idempotency_key=request.idempotency_key, account=label
        )

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
        params: dict[str, Any] = {"expand": _EXPAND}
        if amount is not None:
            params["amount"] = amount
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
        if metadata:
            params["metadata"] = dict(metadata)
        options = {"idempotency_key": f"{idempotency_key}:update"} if idempotency_key else {}
        obj = await self._on(
            account, lambda v1: v1.payment_intents.update_async(intent_id, params, options)
        )
        return intent_from_stripe(_as_dict(obj), account)

    async def confirm_payment_intent(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        account: str = PRIMARY,
        payment_method_id: str | None = None,
    ) -> PaymentIntentResult:
        if payment_method_id is not None:
            # Set the method by update, then confirm: one shape that real Stripe and
            # localstripe (which cannot confirm with a new method) both accept.
            await self.update_payment_intent(
                intent_id,
                account=account,
                payment_method_id=payment_method_id,
                idempotency_key=idempotency_key,
            )
        options = {"idempotency_key": f"{idempotency_key}:confirm"}
        try:
            obj = await self._on(
                account,
                lambda v1: v1.payment_intents.confirm_async(
                    intent_id, {"expand": _EXPAND}, options
                ),
            )
        except stripe.CardError as exc:
            # The decline is recorded on the intent; read it back for the full picture.
            declined = await self._intent(account, intent_id)
            if declined.decline_code:
                return declined
            code = (exc.error.decline_code if exc.error else None) or exc.code or "card_declined"
            return _with_decline(declined, code, exc.user_message or "Your card was declined.")
        return intent_from_stripe(_as_dict(obj), account)

    async def retrieve_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        return await self._intent(account, intent_id)

    async def cancel_payment_intent(
        self, intent_id: str, *, account: str = PRIMARY
    ) -> PaymentIntentResult:
        await self._on(account, lambda v1: v1.payment_intents.cancel_async(intent_id))
        return await self._intent(account, intent_id)

    async def refund(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        account: str = PRIMARY,
        metadata: Mapping[str, str] | None = None,
    ) -> RefundResult:
        params: dict[str, Any] = {"payment_intent": intent_id}
        if amount is not None:
            params["amount"] = amount
        if metadata:
            params["metadata"] = dict(metadata)
        options = {"idempotency_key": f"{idempotency_key}:refund"}
        obj = await self._on(account, lambda v1: v1.refunds.create_async(params, options))
        data = _as_dict(obj)
        return RefundResult(
            id=str(data["id"]),
            payment_intent_id=intent_id,
            amount=int(data["amount"]),
            currency=str(data["currency"]).upper(),
            status=str(data.get("status") or "succeeded"),
            account=account,
        )

    # --- customers and saved methods (primary account: they outlive one checkout) ---------

    async def create_customer(
        self, *, email: str, name: str | None, idempotency_key: str, metadata: Mapping[str, str]
    ) -> CustomerResult:
        params: dict[str, Any] = {"email": email, "metadata": dict(metadata)}
        if name:
            params["name"] = name
        options = {"idempotency_key": f"{idempotency_key}:customer"}
        obj = await self._on(PRIMARY, lambda v1: v1.customers.create_async(params, options))
        data = _as_dict(obj)
        return CustomerResult(id=str(data["id"]), email=data.get("email"), account=PRIMARY)

    async def create_setup_intent(
        self, customer_id: str, *, idempotency_key: str
    ) -> SetupIntentResult:
        params = {"customer": customer_id, "usage": "off_session"}
        options = {"idempotency_key": f"{idempotency_key}:setup"}
        obj = await self._on(PRIMARY, lambda v1: v1.setup_intents.create_async(params, options))
        data = _as_dict(obj)
        return SetupIntentResult(
            id=str(data["id"]),
            status=str(data["status"]),
            client_secret=data.get("client_secret"),
            customer_id=data.get("customer"),
            payment_method_id=data.get("payment_method"),
            next_action=data.get("next_action") or None,
        )

    async def retrieve_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        obj = await self._on(
            PRIMARY, lambda v1: v1.payment_methods.retrieve_async(payment_method_id)
        )
        return _saved_method(_as_dict(obj))

    async def list_payment_methods(self, customer_id: str) -> list[SavedPaymentMethod]:
        obj = await self._on(
            PRIMARY,
            lambda v1: v1.payment_methods.list_async({"customer": customer_id, "type": "card"}),
        )
        return [_saved_method(item) for item in _as_dict(obj).get("data", [])]

    async def attach_payment_method(
        self, payment_method_id: str, customer_id: str
    ) -> SavedPaymentMethod:
        try:
            obj = await self._on(
                PRIMARY,
                lambda v1: v1.payment_methods.attach_async(
                    payment_method_id, {"customer": customer_id}
                ),
            )
        except stripe.CardError as exc:
            raise PaymentMethodDeclined(
                exc.user_message or "This card was declined.",
                details={"decline_code": exc.code or "card_declined"},
            ) from exc
        except GatewayRejected as exc:
            # The method id is the only one the caller chose (the customer is ours).
            if exc.details.get("http_status") == 404:
                raise PaymentMethodNotFound("No such payment method.") from exc
            raise
        return _saved_method(_as_dict(obj))

    async def detach_payment_method(self, payment_method_id: str) -> SavedPaymentMethod:
        obj = await self._on(PRIMARY, lambda v1: v1.payment_methods.detach_async(payment_method_id))
        return _saved_method(_as_dict(obj))

    async def _create_plan(self, params: dict[str, Any], options: dict[str, str]) -> Any:
        return await self._on(PRIMARY, lambda v1: v1.plans.create_async(params, options))

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
        items = []
        for n, price in enumerate(prices):
            plan_params = {
                "amount": price.amount,
                "currency": price.currency.lower(),
                "interval": price.interval,
                "interval_count": price.interval_count,
                "product": {"name": price.product_name},
            }
            plan_options = {"idempotency_key": f"{idempotency_key}:plan:{n}"}
            plan = await self._create_plan(plan_params, plan_options)
            items.append({"plan": _as_dict(plan)["id"], "quantity": price.quantity})
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": items,
            "metadata": dict(metadata),
        }
        if payment_method_id:
            # The customer's invoice default pays every renewal (and localstripe only
            # knows this form, not the subscription's own default_payment_method).
            settings = {"invoice_settings": {"default_payment_method": payment_method_id}}
            await self._on(PRIMARY, lambda v1: v1.customers.update_async(customer_id, settings))
        if trial_end is not None:
            params["trial_end"] = trial_end
        options = {"idempotency_key": f"{idempotency_key}:subscription"}
        obj = await self._on(PRIMARY, lambda v1: v1.subscriptions.create_async(params, options))
        data = _as_dict(obj)
        invoice = data.get("latest_invoice")
        return SubscriptionResult(
            id=str(data["id"]),
            customer_id=customer_id,
            status=str(data["status"]),
            current_period_end=data.get("current_period_end"),
            latest_invoice_id=invoice if isinstance(invoice, str) else (invoice or {}).get("id"),
            account=PRIMARY,
        )


def _with_decline(intent: PaymentIntentResult, code: str, message: str) -> PaymentIntentResult:
    return replace(intent, decline_code=code, decline_message=message)
