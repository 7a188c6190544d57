"""The one idempotent path that moves a checkout after the gateway has spoken.

:func:`sync_payment` is the finalize path the browser's confirmation, the webhook and
the sweeper share: it reads the intent's real status and applies whatever server
events are still missing (PAYMENT_SUCCESS then PROCEED_TO_CONFIRMATION, or
PAYMENT_REQUIRES_ACTION, or PAYMENT_FAILURE; PAYMENT_REFUNDED when the payment succeeded
but the order cannot be made, after refunding it). Every step is guarded by the checkout's
state and the orders' unique constraints, so running it twice, concurrently or out of
order never creates a second order or undoes a paid one. :func:`sync_intent` is the
same by intent (the webhook's entry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select

from tillpoint.audit.service import SYSTEM, Actor
from tillpoint.checkout import service as checkout_service
from tillpoint.checkout.context import CheckoutContext, Payment
from tillpoint.checkout.machine import Event, State
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.orphan_refunds import recorded_refund, refund_message, refund_orphan
from tillpoint.checkout.payment_steps import account_of, intent_summary, payment_of
from tillpoint.checkout.subscriptions import start_subscriptions
from tillpoint.errors import Conflict, NotFound
from tillpoint.orders.public import (
    Order,
    OrderLine,
    is_recurring,
    order_of_intent,
    order_ref_for_checkout,
)
from tillpoint.payments import public as payments_public
from tillpoint.payments.public import (
    GatewayRejected,
    IntentStatus,
    PaymentAttempt,
    PaymentGateway,
    PaymentIntentResult,
    WebhookEvent,
)
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)

# A checkout as the finalize path reads it: its state, its context and its order's id.
Known = tuple[State, CheckoutContext, str | None]


@dataclass(frozen=True, slots=True)
class SyncResult:
    checkout_id: str
    state: str
    intent: PaymentIntentResult | None
    order_id: str | None
    # payment_refunded: how much went back and why (``context.payment.refund``).
    refund: dict[str, Any] | None = None


PAYING = frozenset({State.payment_processing, State.payment_requires_action})
_CANNOT_FULFIL = frozenset({"out_of_stock", "coupon_unavailable", "payment_refunded"})


async def _read(rt: Runtime, checkout_id: str) -> Known:
    async with rt.db.transaction() as s:
        row = await s.get(Checkout, checkout_id, populate_existing=True)
        if row is None:
            raise NotFound("No such checkout.", code="checkout_not_found")
        order = await order_ref_for_checkout(s, checkout_id)
        return State(row.state), CheckoutContext.load(row.context), (order[0] if order else None)


def snapshot(state: State | str, ctx: CheckoutContext) -> Known:
    """A checkout as :func:`_read` answers, from a row or view in hand. ``context.order`` is
    written by ``create_order`` in the order's own transaction, so it is there exactly
    when the checkout has an order."""
    order_id = ctx.order.id if ctx.order is not None else None
    return State(state), ctx, (order_id or None)


def _recurring_hint(ctx: CheckoutContext) -> bool | None:
    """Whether the checkout's order has recurring lines, as ``create_order`` noted it
    (None for an order made before it did: then the lines are asked)."""
    return ctx.order.recurring if ctx.order is not None else None


def _next_event(state: State, intent: PaymentIntentResult) -> Event | None:
    """The server event that brings a paying checkout in line with its intent."""
    status = intent.status
    if state is State.payment_success:
        return Event.PROCEED_TO_CONFIRMATION
    if state not in PAYING:
        return None
    if status is IntentStatus.succeeded:
        # 3-D Secure has no direct success edge: back to processing first.
        return (
            Event.ACTION_COMPLETED
            if state is State.payment_requires_action
            else Event.PAYMENT_SUCCESS
        )
    if status is IntentStatus.requires_action:
        return Event.PAYMENT_REQUIRES_ACTION if state is State.payment_processing else None
    if status in (IntentStatus.requires_payment_method, IntentStatus.canceled) and (
        intent.decline_code or status is IntentStatus.canceled
    ):
        return Event.PAYMENT_FAILURE
    return None


async def sync_payment(
    rt: Runtime,
    checkout_id: str,
    *,
    intent: PaymentIntentResult | None = None,
    actor: Actor = SYSTEM,
    known: Known | None = None,
) -> SyncResult:
    """Bring the checkout in line with its PaymentIntent; create the order once paid.

    Safe to call any number of times from anywhere. ``intent``: the gateway's own read
    of it (never a webhook's copy), or None to read it here. An intent that is not the
    checkout's current one (an older attempt) never moves the checkout. ``known``: the
    checkout as the caller just read it (:func:`snapshot`), saving the first read.
    """
    gateway = rt.gateway
    for _ in range(6):
        checkout = known or await _read(rt, checkout_id)
        finished = await _finished(rt, gateway, checkout_id, checkout, intent)
        if finished is not None:
            return finished
        state, ctx, _ = checkout
        intent = await _current_intent(gateway, payment_of(ctx), intent)
        event = _next_event(state, intent)
        if event is None:
            if state not in PAYING and state is not State.payment_success:
                await refund_orphan(rt, gateway, checkout_id, intent)
            return SyncResult(checkout_id, state.value, intent, None)
        moved = await _move(rt, gateway, checkout_id, state, event, intent, actor)
        if isinstance(moved, SyncResult):
            return moved
        known = moved
    state, ctx, order_id = await _read(rt, checkout_id)
    if order_id is not None:
        await start_subscriptions(rt, order_id)
    return SyncResult(checkout_id, state.value, intent, order_id, payment_of(ctx).refund)


async def _finished(
    rt: Runtime,
    gateway: PaymentGateway,
    checkout_id: str,
    checkout: Known,
    intent: PaymentIntentResult | None,
) -> SyncResult | None:
    """The answer when nothing is left to move (an order, no payment, a stale intent, a
    refund), or None when the checkout's intent must be asked."""
    state, ctx, order_id = checkout
    payment = payment_of(ctx)
    intent_id = payment.intent_id
    if order_id is not None:
        await start_subscriptions(rt, order_id, recurring=_recurring_hint(ctx))
        return SyncResult(checkout_id, state.value, intent, order_id)
    if not intent_id:
        return SyncResult(checkout_id, state.value, intent, order_id)
    if intent is not None and intent.id != intent_id:
        # An older attempt's intent: it never moves the checkout, and if it took
        # money after all, that money goes back.
        await refund_orphan(rt, gateway, checkout_id, intent)
        return SyncResult(checkout_id, state.value, intent, None)
    if state is State.payment_refunded:
        return SyncResult(checkout_id, state.value, intent, None, payment.refund)
    return None


async def _current_intent(
    gateway: PaymentGateway, payment: Payment, intent: PaymentIntentResult | None
) -> PaymentIntentResult:
    """The checkout's intent: the one in hand if it succeeded, else the gateway's current
    answer, which is the truth (webhooks arrive out of order)."""
    if intent is not None and intent.status is IntentStatus.succeeded:
        return intent
    return await gateway.retrieve_payment_intent(
        str(payment.intent_id), account=account_of(payment)
    )


async def _move(
    rt: Runtime,
    gateway: PaymentGateway,
    checkout_id: str,
    state: State,
    event: Event,
    intent: PaymentIntentResult,
    actor: Actor,
) -> Known | SyncResult | None:
    """Apply ``event``: the checkout it led to, a final answer, or None to read it again
    (someone else moved it meanwhile, or it expired)."""
    payload: dict[str, Any] = {"intent": intent_summary(intent)}
    if event is Event.PAYMENT_FAILURE:
        payload["reason"] = intent.decline_code or intent.status.value
    try:
        # Only the state and context are read back: the step need not price the cart.
        view = await checkout_service.apply_server_event(
            rt, checkout_id, event, payload, actor=actor, price=False
        )
    except Conflict as exc:
        if event is Event.PROCEED_TO_CONFIRMATION and exc.code in _CANNOT_FULFIL:
            # Paid, but the stock or a coupon ran out meanwhile: the money goes back
            # and the checkout ends in payment_refunded, saying why.
            known = await _give_back(rt, gateway, checkout_id, intent, exc.code, actor)
            return known or SyncResult(checkout_id, state.value, intent, None)
        if exc.code not in ("event_not_allowed", "checkout_expired"):
            raise
        return None
    # What our own step committed is the current checkout: no need to read it back.
    return snapshot(view.state, view.context)


async def _give_back(
    rt: Runtime,
    gateway: PaymentGateway,
    checkout_id: str,
    intent: PaymentIntentResult,
    code: str,
    actor: Actor,
) -> Known | None:
    """Paid, but no order can be made (``code``: the stock or a coupon ran out, or the
    payment went back already): refund it once and end the checkout in payment_refunded
    with the amount and a sentence saying why. Returns the checkout to go on from, or
    None while another path is refunding it (that path moves the checkout)."""
    refund = await refund_orphan(rt, gateway, checkout_id, intent, reason=code)
    if refund is not None:
        facts: dict[str, Any] | None = {
            "id": refund.id, "amount": refund.amount, "currency": refund.currency,
            "reason": code,
        }  # fmt: skip
    else:
        # Refunded by another path, which may have stopped before moving the checkout:
        # the refund's record says how much and why, so every path says the same.
        facts = await recorded_refund(rt, intent.id)
    if facts is None:
        return None
    payload = {"refund": {**facts, "message": refund_message(facts["reason"])}}
    try:
        view = await checkout_service.apply_server_event(
            rt, checkout_id, Event.PAYMENT_REFUNDED, payload, actor=actor, price=False
        )
    except Conflict as exc:
        if exc.code not in ("event_not_allowed", "checkout_expired"):
            raise
        return await _read(rt, checkout_id)  # moved meanwhile (by another path)
    return snapshot(view.state, view.context)


# attempts.attempt_for_intent locks it) with the order the intent paid and its lines'
# recurring specs, in one statement.
_ATTEMPT_AND_ORDER_READ = (
    select(
        PaymentAttempt.checkout_id,
        PaymentAttempt.account,
        PaymentAttempt.status,
        Order.id,
        OrderLine.recurring,
    )
    .select_from(PaymentAttempt)
    .outerjoin(Order, Order.payment_intent_id == PaymentAttempt.payment_intent_id)
    .outerjoin(OrderLine, OrderLine.order_id == Order.id)
    .where(PaymentAttempt.payment_intent_id == bindparam("intent_id"))
)
_ATTEMPT_AND_ORDER = _ATTEMPT_AND_ORDER_READ.with_for_update(of=PaymentAttempt)


async def sync_intent(rt: Runtime, intent: PaymentIntentResult) -> SyncResult | None:
    """Finalize by intent: find its checkout and sync it. ``intent`` is the gateway's own
    read (the webhook applier reads it before calling this)."""
    paid: tuple[str, bool] | None = None
    async with rt.db.transaction() as s:
        rows = (await s.execute(_ATTEMPT_AND_ORDER, {"intent_id": intent.id})).all()
        checkout_id = rows[0].checkout_id if rows else intent.metadata.get("checkout_id")
        if rows:
            intent = replace(intent, account=rows[0].account)
            if rows[0].status not in payments_public.FINAL:
                await payments_public.settle_for_order(s, intent, rt.clock.now())
        if intent.status is IntentStatus.succeeded:
            if not rows:
                paid = await order_of_intent(s, intent.id)
            elif rows[0].id is not None:
                paid = rows[0].id, any(is_recurring(row.recurring) for row in rows)
    if paid is not None and checkout_id:
        # The browser's confirmation (or an earlier delivery) made the order: the order
        # and the checkout's final state commit together, so nothing is left but the
        # subscriptions, which are idempotent.
        order_id, recurring = paid
        await start_subscriptions(rt, order_id, recurring=recurring)
        return SyncResult(str(checkout_id), State.order_confirmation.value, intent, order_id)
    if not checkout_id:
        return None
    try:
        return await sync_payment(rt, checkout_id, intent=intent)
    except NotFound:
        return None


async def apply_intent_event(rt: Runtime, gateway: PaymentGateway, event: WebhookEvent) -> None:
    """Webhook applier: a PaymentIntent event drives its checkout through finalize, with
    the intent as the gateway reads it now. The event only names the intent: signed is not
    the same as true (a delivery may be stale, out of order, or made with a leaked secret),
    so its copy of the intent moves nothing."""
    obj = event.object
    intent_id = obj.get("id")
    if obj.get("object") != "payment_intent" or not isinstance(intent_id, str):
        return
    async with rt.db.single_statement() as conn:
        rows = (await conn.execute(_ATTEMPT_AND_ORDER_READ, {"intent_id": intent_id})).all()
    if rows and rows[0].id is not None:
        # Paid and ordered already (the order and the final state commit together): no
        # event can move it, only the idempotent subscriptions are left to start.
        recurring = any(is_recurring(row.recurring) for row in rows)
        await start_subscriptions(rt, rows[0].id, recurring=recurring)
        return
    metadata = obj.get("metadata")
    if not rows and not (isinstance(metadata, dict) and metadata.get("checkout_id")):
        return  # not a payment of ours: nothing to move, nothing to ask the gateway
    account = rows[0].account if rows else "primary"
    try:
        intent = await gateway.retrieve_payment_intent(intent_id, account=account)
    except GatewayRejected:
        log.warning(
            "a webhook named an intent the gateway does not know", extra={"intent": intent_id}
        )
        return
    await sync_intent(rt, intent)
