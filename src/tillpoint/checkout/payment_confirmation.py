"""The browser's side of paying: the current PaymentIntent for Stripe.js, and the
confirmation that confirms it if it still needs it and then finalizes the checkout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from tillpoint.audit.service import SYSTEM, Actor
from tillpoint.auth.public import SessionContext
from tillpoint.checkout.context import CheckoutContext
from tillpoint.checkout.machine import State
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.payment_steps import account_of, payment_of
from tillpoint.checkout.payment_sync import PAYING, SyncResult, snapshot, sync_payment
from tillpoint.errors import Conflict, NotFound
from tillpoint.payments.public import IntentStatus, idempotency_key
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class _Owned:
    """What the browser-facing payment calls read of the caller's checkout."""

    id: str
    state: str
    context: CheckoutContext


_OWNED = select(Checkout.session_id, Checkout.user_id, Checkout.state, Checkout.context).where(
    Checkout.id == bindparam("checkout_id")
)


async def _owned_checkout(rt: Runtime, session: SessionContext, checkout_id: str) -> _Owned:
    """The caller's checkout (404 for anyone else's): four columns, not the ORM row, in
    one statement without a transaction around it."""
    found = None
    if checkout_id.startswith("chk_"):
        async with rt.db.single_statement() as conn:
            found = (await conn.execute(_OWNED, {"checkout_id": checkout_id})).first()
    if found is None or not (
        found.session_id == session.session_id
        or (found.user_id is not None and found.user_id == session.user_id)
    ):
        raise NotFound("No such checkout.", code="checkout_not_found")
    return _Owned(checkout_id, found.state, CheckoutContext.load(found.context))


async def payment_intent_for(
    rt: Runtime, session: SessionContext, checkout_id: str
) -> dict[str, Any]:
    """The checkout's current PaymentIntent for Stripe.js (``create-intent``).

    409 ``payment_not_started`` until CONFIRM_ORDER has created one.
    """
    row = await _owned_checkout(rt, session, checkout_id)
    payment = payment_of(row.context)
    if not payment.intent_id or State(row.state) not in (
        *PAYING,
        State.payment_failed,
    ):
        raise Conflict(
            "Confirm the order first (CONFIRM_ORDER).",
            code="payment_not_started",
            details={"state": row.state},
        )
    gateway = rt.gateway
    intent = await gateway.retrieve_payment_intent(payment.intent_id, account=account_of(payment))
    publishable = getattr(gateway, "publishable_key_for", None)
    return {
        "checkout_id": row.id,
        "payment_intent_id": intent.id,
        "client_secret": intent.client_secret,
        "status": intent.status.value,
        "amount": intent.amount,
        "currency": intent.currency,
        "next_action": intent.next_action,
        "gateway": gateway.name,
        "publishable_key": publishable(intent.account)
        if callable(publishable)
        else gateway.publishable_key,
    }


async def confirm_payment(
    rt: Runtime, session: SessionContext, checkout_id: str, *, actor: Actor = SYSTEM
) -> SyncResult:
    """The browser's confirmation: confirm the intent with the chosen method if it still
    needs it, then finalize. Repeating it is harmless (it only ever moves forward)."""
    row = await _owned_checkout(rt, session, checkout_id)
    payment = payment_of(row.context)
    intent_id = payment.intent_id
    if not intent_id:
        raise Conflict("Confirm the order first (CONFIRM_ORDER).", code="payment_not_started")
    gateway = rt.gateway
    account = account_of(payment)
    intent = await gateway.retrieve_payment_intent(intent_id, account=account)
    if State(row.state) is State.payment_processing and (
        intent.status is IntentStatus.requires_confirmation
    ):
        intent = await gateway.confirm_payment_intent(
            intent_id,
            idempotency_key=idempotency_key(row.id, payment.attempt or 1, "pay"),
            account=account,
        )
    return await sync_payment(
        rt, checkout_id, intent=intent, actor=actor, known=snapshot(row.state, row.context)
    )
