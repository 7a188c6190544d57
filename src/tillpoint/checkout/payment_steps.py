"""The checkout's payment steps: effects on the machine's payment actions.

They run inside the checkout's unit of work, its row locked:

- ``checkPayment`` / ``initiatePayment`` (CONFIRM_ORDER): the payment method and the
  velocity limits first (before any coupon or stock row is locked), then *create* the
  PaymentIntent for the re-priced total (idempotency key from checkout id and attempt
  number) and record the attempt. Nothing is charged inside the transaction: if it rolls
  back, an unconfirmed intent is all that is left.
- ``requestCustomerAction`` / ``refreshPaymentStatus`` / ``handlePaymentSuccess`` /
  ``handlePaymentFailure``: keep ``context.payment`` and the attempt row in step;
  ``handlePaymentRefund`` (PAYMENT_REFUNDED) records the refund and why in it.

Order creation is ``checkout/completion.py``; what happens after the gateway has spoken
is ``checkout/payment_sync.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tillpoint.auth.public import User
from tillpoint.checkout.context import CheckoutContext, Payment
from tillpoint.checkout.effects import EffectCall
from tillpoint.errors import FieldError, InvalidInput, TillpointError
from tillpoint.payments import public as payments_public
from tillpoint.payments.public import (
    AttemptKeys,
    CreateIntent,
    GatewayRejected,
    IntentStatus,
    PaymentCustomer,
    PaymentGateway,
    PaymentIntentResult,
    check_velocity,
    idempotency_key,
)

log = logging.getLogger(__name__)


def payment_of(ctx: CheckoutContext) -> Payment:
    """The checkout's payment summary (an empty one before CONFIRM_ORDER)."""
    return ctx.payment if ctx.payment is not None else Payment()


def account_of(payment: Payment) -> str:
    """The gateway account the payment's intent lives in."""
    return payment.account or "primary"


def _email(ctx: CheckoutContext) -> str | None:
    email = ctx.guest_info.email if ctx.guest_info is not None else None
    return str(email) if email else None


def _method_id(ctx: CheckoutContext) -> str | None:
    method = ctx.payment_method
    value = (method.payment_method_id or method.saved_method_id) if method is not None else None
    return str(value) if value else None


def intent_summary(intent: PaymentIntentResult) -> dict[str, Any]:
    return {
        "intent_id": intent.id,
        "account": intent.account,
        "status": intent.status.value,
        "client_secret": intent.client_secret,
        "next_action": intent.next_action,
        "risk_level": intent.risk_level,
        "card_brand": intent.card_brand,
        "card_last4": intent.card_last4,
        "error": (
            {"code": intent.decline_code, "message": intent.decline_message}
            if intent.decline_code
            else None
        ),
    }


async def email_for(call: EffectCall) -> str | None:
    email = _email(call.context)
    if email is None and call.checkout.user_id is not None:
        user = await call.s.get(User, call.checkout.user_id)
        email = user.email if user else None
    return email


@dataclass(frozen=True, slots=True)
class _Checked:
    """What :func:`check_payment` found, for :func:`initiate_payment` to use."""

    keys: AttemptKeys
    customer_id: str | None


_CHECKED = "payment_checked"


async def check_payment(call: EffectCall) -> None:
    """CONFIRM_ORDER, before any coupon or stock row is locked: the payment method (a
    gateway call) and the velocity limits. A refusal here then takes no lock, and the hot
    rows the later effects lock are not held across these calls."""
    call.extra[_CHECKED] = await _check_payment(call)


async def _check_payment(call: EffectCall) -> _Checked:
    rt, s, row, ctx = call.rt, call.s, call.checkout, call.context
    if call.totals is None or call.totals.total <= 0:
        raise InvalidInput("There is nothing to pay.", code="nothing_to_pay")
    gateway = rt.gateway
    method_id = _method_id(ctx)
    email = await email_for(call)
    fingerprint = None
    if method_id is not None:
        try:
            fingerprint = (await gateway.retrieve_payment_method(method_id)).fingerprint
        except GatewayRejected as exc:
            raise InvalidInput(
                "This payment method cannot be used.",
                code="invalid_payment_method",
                fields=[FieldError(("payment_method",), "unknown", exc.message)],
            ) from exc
    customer_id = await _saved_method_customer(call, gateway, method_id)
    keys = AttemptKeys(row.id, row.session_id, email, fingerprint)
    await check_velocity(s, rt.settings, keys, rt.clock.now())
    return _Checked(keys, customer_id)


async def initiate_payment(call: EffectCall) -> None:
    """CONFIRM_ORDER: create the PaymentIntent for the re-priced total (not confirmed yet)."""
    rt, s, row, ctx = call.rt, call.s, call.checkout, call.context
    checked = call.extra.get(_CHECKED)
    if not isinstance(checked, _Checked):
        checked = await _check_payment(call)
    assert call.totals is not None  # checked above
    gateway = rt.gateway
    previous = payment_of(ctx)
    attempt = (previous.attempt or 0) + 1
    method_id = _method_id(ctx)
    email, keys, customer_id = checked.keys.email, checked.keys, checked.customer_id
    await _cancel_previous(gateway, previous)
    intent = await gateway.create_payment_intent(
        CreateIntent(
            amount=call.totals.total,
            currency=call.totals.currency,
            idempotency_key=idempotency_key(row.id, attempt, "pay"),
            metadata={"checkout_id": row.id, "attempt": str(attempt), "cart_id": row.cart_id},
            payment_method_id=method_id,
            customer_id=customer_id,
            receipt_email=email,
        )
    )
    await payments_public.record_attempt(
        s, keys=keys, gateway=gateway.name, intent=intent, now=rt.clock.now()
    )
    ctx.payment = Payment.model_validate(
        {
            **intent_summary(intent),
            "attempt": attempt,
            "gateway": gateway.name,
            "amount": intent.amount,
            "currency": intent.currency,
            "totals": call.totals.to_json(),
        }
    )


async def _saved_method_customer(
    call: EffectCall, gateway: PaymentGateway, method_id: str | None
) -> str | None:
    """For a saved method: the user's gateway customer, if the method is really theirs."""
    method = call.context.payment_method
    if method is None or method.type != "saved":
        return None
    user_id = call.checkout.user_id
    customer_id = None
    if user_id is not None:
        customer_id = await call.s.scalar(
            select(PaymentCustomer.customer_id).where(
                PaymentCustomer.user_id == user_id, PaymentCustomer.gateway == gateway.name
            )
        )
    owned = (
        {m.id for m in await gateway.list_payment_methods(customer_id)} if customer_id else set()
    )
    if method_id not in owned:
        raise InvalidInput(
            "This saved payment method is not yours.",
            code="invalid_payment_method",
            fields=[FieldError(("payment_method", "saved_method_id"), "unknown", "Not saved.")],
        )
    return customer_id


async def _cancel_previous(gateway: PaymentGateway, previous: Payment) -> None:
    """A retry gets a new intent; the old one is canceled so it can never be charged later."""
    intent_id = previous.intent_id
    if not intent_id or previous.status == IntentStatus.succeeded.value:
        return
    try:
        await gateway.cancel_payment_intent(intent_id, account=account_of(previous))
    except TillpointError:
        log.warning("could not cancel a previous payment intent", extra={"intent": intent_id})


def _intent_from_payload(call: EffectCall) -> dict[str, Any]:
    intent = call.payload.get("intent")
    return dict(intent) if isinstance(intent, dict) else {}


async def _track(call: EffectCall, status: str) -> None:
    """Merge the gateway's answer (payload ``intent``) into ``context.payment``."""
    summary = _intent_from_payload(call)
    changes = {k: v for k, v in summary.items() if k != "intent_id"}
    changes["status"] = summary.get("status", status)
    call.context.payment = payment_of(call.context).updated(changes)


async def request_customer_action(call: EffectCall) -> None:
    await _track(call, IntentStatus.requires_action.value)


async def refresh_payment_status(call: EffectCall) -> None:
    """ACTION_COMPLETED: ask the gateway what 3-D Secure ended in."""
    payment = payment_of(call.context)
    intent_id = payment.intent_id
    if not intent_id:
        return
    intent = await call.rt.gateway.retrieve_payment_intent(intent_id, account=account_of(payment))
    call.context.payment = payment.updated(intent_summary(intent))
    await payments_public.apply_intent(call.s, intent, call.rt.clock.now())


async def handle_payment_success(call: EffectCall) -> None:
    await _track(call, IntentStatus.succeeded.value)


async def handle_payment_failure(call: EffectCall) -> None:
    await _track(call, IntentStatus.requires_payment_method.value)
    payment = payment_of(call.context)
    reason = call.payload.get("reason")
    if reason and (payment.error is None or not payment.error.model_fields_set):
        failed = {"code": str(reason), "message": "The payment failed."}
        call.context.payment = payment.updated({"error": failed})


async def handle_payment_refund(call: EffectCall) -> None:
    """PAYMENT_REFUNDED: the payment went back because no order could be made; the
    checkout keeps how much, why, and the sentence the shopper is shown."""
    refund = call.payload.get("refund")
    call.context.payment = payment_of(call.context).updated(
        {
            "status": payments_public.REFUNDED,
            "refund": dict(refund) if isinstance(refund, dict) else None,
        }
    )
