"""The payment half of the checkout: effects on the machine's payment actions, and the
one idempotent path that moves a checkout after the gateway has spoken.

Effects (run inside the checkout's unit of work, its row locked):

- ``initiatePayment`` (CONFIRM_ORDER): velocity checks, then *create* the PaymentIntent
  for the re-priced total (idempotency key from checkout id and attempt number) and
  record the attempt. Nothing is charged inside the transaction: if it rolls back, an
  unconfirmed intent is all that is left.
- ``requestCustomerAction`` / ``refreshPaymentStatus`` / ``handlePaymentSuccess`` /
  ``handlePaymentFailure``: keep ``context.payment`` and the attempt row in step;
  ``handlePaymentRefund`` (PAYMENT_REFUNDED) records the refund and why in it.
- ``createOrder`` (PROCEED_TO_CONFIRMATION): insert the order from the totals the
  customer paid, convert the stock reservation and redeem the coupon holds, mark the cart
  converted and queue the confirmation — all in the same transaction.

:func:`sync_payment` is the finalize path the browser's confirmation, the webhook and
the sweeper share: it reads the intent's real status and applies whatever server
events are still missing (PAYMENT_SUCCESS then PROCEED_TO_CONFIRMATION, or
PAYMENT_REQUIRES_ACTION, or PAYMENT_FAILURE; PAYMENT_REFUNDED when the payment succeeded
but the order cannot be made, after refunding it). Every step is guarded by the checkout's
state and the orders' unique constraints, so running it twice, concurrently or out of
order never creates a second order or undoes a paid one.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.auth.models import User
from tillpoint.auth.next_cart import move_sessions_to_next_cart
from tillpoint.auth.session_context import SessionContext
from tillpoint.cart.service import mark_converted
from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.checkout import service as checkout_service
from tillpoint.checkout.effects import EffectCall, register_effect, unregister_effect
from tillpoint.checkout.machine import Event, State
from tillpoint.checkout.models import Checkout
from tillpoint.errors import Conflict, FieldError, InvalidInput, NotFound, TillpointError
from tillpoint.inventory.checkout_stock import reservation_of
from tillpoint.inventory.reservations import fulfill_reservation
from tillpoint.orders.models import Order, OrderLine, SubscriptionRecord
from tillpoint.orders.service import (
    LineDraft,
    OrderDraft,
    insert_order,
    insert_order_rows,
    is_recurring,
    order_access_token,
    order_id_for_intent,
    order_of_intent,
    order_ref_for_checkout,
    orders_for_checkout_or_intent,
)
from tillpoint.orders.subscriptions import record_subscription
from tillpoint.outbox import service as outbox
from tillpoint.payments import attempts
from tillpoint.payments.backends import build_gateway
from tillpoint.payments.customers import customer_for
from tillpoint.payments.gateway import (
    CreateIntent,
    GatewayRejected,
    IntentStatus,
    PaymentGateway,
    PaymentIntentResult,
    RecurringPrice,
    RefundResult,
    WebhookEvent,
    idempotency_key,
)
from tillpoint.payments.models import PaymentAttempt, PaymentCustomer
from tillpoint.payments.risk import held_for_review
from tillpoint.payments.velocity import AttemptKeys, check_velocity
from tillpoint.payments.webhooks import register_applier
from tillpoint.promotions.holds import redeem_coupon_holds
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)

# --- the gateway of a runtime ------------------------------------------------------------

# Keyed by the runtime's identity (a Runtime is an unhashable dataclass); the weak
# reference lets a finished runtime's entry be recognised and replaced.
_GATEWAYS: dict[int, tuple[weakref.ref[Runtime], PaymentGateway]] = {}


def bind_gateway(rt: Runtime, gateway: PaymentGateway) -> None:
    """Make ``gateway`` the one effects and jobs running on ``rt`` use (set by create_app)."""
    for key in [k for k, (ref, _) in _GATEWAYS.items() if ref() is None]:
        del _GATEWAYS[key]
    _GATEWAYS[id(rt)] = (weakref.ref(rt), gateway)


def gateway_of(rt: Runtime) -> PaymentGateway:
    """The gateway bound to ``rt``, or a new one from its settings (CLI sweeps)."""
    found = _GATEWAYS.get(id(rt))
    if found is not None and found[0]() is rt:
        return found[1]
    gateway = build_gateway(rt.settings)
    bind_gateway(rt, gateway)
    return gateway


# --- hooks other features fill in --------------------------------------------------------

# Called inside createOrder's unit of work with the new order, after the stock and coupon
# conversion: for features that must commit with the order. Raising refuses the order
# (the transaction rolls back; the sweeper or a webhook will try again).
OrderHook = Callable[[EffectCall, Order], Awaitable[None]]
ORDER_HOOKS: list[OrderHook] = []

# --- effects -----------------------------------------------------------------------------


def _payment(ctx: dict[str, Any]) -> dict[str, Any]:
    return dict(ctx.get("payment") or {})


def _email(ctx: dict[str, Any]) -> str | None:
    info = ctx.get("guest_info") or {}
    email = info.get("email") if isinstance(info, dict) else None
    return str(email) if email else None


def _method_id(ctx: dict[str, Any]) -> str | None:
    method = ctx.get("payment_method") or {}
    value = method.get("payment_method_id") or method.get("saved_method_id")
    return str(value) if value else None


def _summary(intent: PaymentIntentResult) -> dict[str, Any]:
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


async def _email_for(call: EffectCall) -> str | None:
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
    gateway = gateway_of(rt)
    method_id = _method_id(ctx)
    email = await _email_for(call)
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
    gateway = gateway_of(rt)
    previous = _payment(ctx)
    attempt = int(previous.get("attempt") or 0) + 1
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
    await attempts.record_attempt(
        s, keys=keys, gateway=gateway.name, intent=intent, now=rt.clock.now()
    )
    ctx["payment"] = {
        **_summary(intent),
        "attempt": attempt,
        "gateway": gateway.name,
        "amount": intent.amount,
        "currency": intent.currency,
        "totals": call.totals.to_json(),
    }


async def _saved_method_customer(
    call: EffectCall, gateway: PaymentGateway, method_id: str | None
) -> str | None:
    """For a saved method: the user's gateway customer, if the method is really theirs."""
    method = call.context.get("payment_method") or {}
    if method.get("type") != "saved":
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


async def _cancel_previous(gateway: PaymentGateway, previous: dict[str, Any]) -> None:
    """A retry gets a new intent; the old one is canceled so it can never be charged later."""
    intent_id = previous.get("intent_id")
    if not intent_id or previous.get("status") == IntentStatus.succeeded.value:
        return
    try:
        await gateway.cancel_payment_intent(intent_id, account=previous.get("account", "primary"))
    except TillpointError:
        log.warning("could not cancel a previous payment intent", extra={"intent": intent_id})


def _intent_from_payload(call: EffectCall) -> dict[str, Any]:
    intent = call.payload.get("intent")
    return dict(intent) if isinstance(intent, dict) else {}


async def _track(call: EffectCall, status: str) -> None:
    """Merge the gateway's answer (payload ``intent``) into ``context.payment``."""
    summary = _intent_from_payload(call)
    payment = _payment(call.context)
    payment.update({k: v for k, v in summary.items() if k != "intent_id"})
    payment["status"] = summary.get("status", status)
    call.context["payment"] = payment


async def request_customer_action(call: EffectCall) -> None:
    await _track(call, IntentStatus.requires_action.value)


async def refresh_payment_status(call: EffectCall) -> None:
    """ACTION_COMPLETED: ask the gateway what 3-D Secure ended in."""
    payment = _payment(call.context)
    intent_id = payment.get("intent_id")
    if not intent_id:
        return
    intent = await gateway_of(call.rt).retrieve_payment_intent(
        intent_id, account=payment.get("account", "primary")
    )
    payment.update(_summary(intent))
    call.context["payment"] = payment
    await attempts.apply_intent(call.s, intent, call.rt.clock.now())


async def handle_payment_success(call: EffectCall) -> None:
    await _track(call, IntentStatus.succeeded.value)


async def handle_payment_failure(call: EffectCall) -> None:
    await _track(call, IntentStatus.requires_payment_method.value)
    payment = _payment(call.context)
    reason = call.payload.get("reason")
    if reason and not payment.get("error"):
        payment["error"] = {"code": str(reason), "message": "The payment failed."}
    call.context["payment"] = payment


async def handle_payment_refund(call: EffectCall) -> None:
    """PAYMENT_REFUNDED: the payment went back because no order could be made; the
    checkout keeps how much, why, and the sentence the shopper is shown."""
    payment = _payment(call.context)
    refund = call.payload.get("refund")
    payment["status"] = attempts.REFUNDED
    payment["refund"] = dict(refund) if isinstance(refund, dict) else None
    call.context["payment"] = payment


async def create_order(call: EffectCall) -> None:
    """PROCEED_TO_CONFIRMATION: the order, stock, coupons, cart and email, in one transaction."""
    rt, s, row, ctx = call.rt, call.s, call.checkout, call.context
    payment = _payment(ctx)
    intent_id = payment.get("intent_id")
    # One narrow SELECT answers both "has this checkout an order?" and "has this
    # payment one?" (the unique constraints stop a second order regardless).
    found = await orders_for_checkout_or_intent(s, row.id, str(intent_id or ""))
    existing = next((o for o in found if o.checkout_id == row.id), None)
    if existing is not None:
        ctx["order"] = {"id": existing.id, "number": existing.number}
        return
    if not intent_id or payment.get("status") != IntentStatus.succeeded.value:
        raise Conflict("The payment has not succeeded.", code="payment_not_succeeded")
    intent = await gateway_of(rt).retrieve_payment_intent(
        intent_id, account=payment.get("account", "primary")
    )
    # The order and its attempt agree from the same commit: the webhook that would also
    # mark it comes a second or more later (it then finds it final). Applied before the
    # checks below in one statement: any refusal rolls it back with everything else.
    attempt_status = await attempts.settle_for_order(s, intent, rt.clock.now())
    if attempt_status in attempts.GIVEN_BACK:
        raise Conflict("This payment was refunded: no order.", code="payment_refunded")
    if intent.status is not IntentStatus.succeeded:
        raise Conflict("The payment has not succeeded.", code="payment_not_succeeded")
    if any(o.payment_intent_id == intent.id for o in found):
        raise Conflict("This payment already has an order.", code="payment_already_used")
    draft = await _draft(call, payment)
    held = held_for_review(intent.risk_level, rt.settings.payment_risk_threshold)
    now = rt.clock.now()
    # Hooks get the ORM order; without any, Core statements write the same rows.
    insert = insert_order if ORDER_HOOKS else insert_order_rows
    order = await insert(
        s, rt.settings, draft, intent, gateway=payment.get("gateway", "sandbox"),
        held_for_review=held, now=now,
    )  # fmt: skip
    # Stock and coupon usage convert in the order's own transaction: all or nothing.
    reservation = reservation_of(ctx)
    if reservation is not None:
        await fulfill_reservation(rt, reservation, s=s)
    coupon_ids = [
        str(p["coupon_id"]) for p in draft.meta.get("promotions", []) if p.get("coupon_id")
    ]
    # The uses held at CONFIRM_ORDER become the order's (or are claimed afresh if lapsed).
    await redeem_coupon_holds(
        s, coupon_ids, checkout_id=row.id, order_id=order.id, user_id=row.user_id,
        email=draft.email, at=now,
    )  # fmt: skip
    for hook in ORDER_HOOKS:
        assert isinstance(order, Order)
        await hook(call, order)
    # The cart stays with this order only; the sessions holding it get a new empty one.
    await move_sessions_to_next_cart(rt, s, await mark_converted(s, row.cart_id))
    outbox.enqueue(
        s,
        kind="order_confirmation",
        dedupe_key=f"order_confirmation:{order.id}",
        recipient=order.email,
        payload={
            "subject": f"Your order {order.number}",
            "text": f"Thank you! Order {order.number}: {order.total} ({order.currency}, "
            "minor units).",
            "order_id": order.id,
            "number": order.number,
            "total": order.total,
            "currency": order.currency,
            "access_token": order_access_token(rt.settings, order.id),
        },
        now=now,
    )
    await record(
        s,
        AuditEvent(
            "order_created", "order", order.id, "create",
            {"checkout_id": row.id, "number": order.number, "total": order.total,
             "currency": order.currency, "payment_intent_id": intent.id,
             "held_for_review": held},
        ),
        call.actor,
        now,
    )  # fmt: skip
    ctx["order"] = {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        # Lets the finalize path skip asking for recurring lines (most orders have none).
        "recurring": any(is_recurring(line.recurring) for line in draft.lines),
    }


@dataclass(frozen=True, slots=True)
class _Named:
    """What an order line copies from the catalog (as ``Sellable`` names it)."""

    name: str
    sku: str
    meta: dict[str, Any]


# Products with the wanted variants (a variant counts only under its own product, as
# ``sellables_for`` resolves it): columns, not ORM objects, on the order's hot path.
_LINE_NAMES = (
    select(
        Product.id,
        Product.name,
        Product.sku,
        Product.meta,
        ProductVariant.id,
        ProductVariant.name,
        ProductVariant.sku,
    )
    .select_from(Product)
    .outerjoin(
        ProductVariant,
        and_(
            ProductVariant.product_id == Product.id,
            ProductVariant.id.in_(bindparam("variant_ids", expanding=True)),
        ),
    )
    .where(Product.id.in_(bindparam("product_ids", expanding=True)))
)


async def _line_names(
    s: AsyncSession, keys: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], _Named]:
    """Name, SKU and metadata of each (product, variant) line that still exists."""
    product_ids = sorted({p for p, _ in keys})
    if not product_ids:
        return {}
    variant_ids = sorted({v for _, v in keys if v}) or [""]
    rows = await s.execute(_LINE_NAMES, {"product_ids": product_ids, "variant_ids": variant_ids})
    products: dict[str, tuple[str, str, dict[str, Any]]] = {}
    variants: dict[tuple[str, str], tuple[str, str]] = {}
    for pid, pname, psku, pmeta, vid, vname, vsku in rows:
        products[pid] = (pname, psku, dict(pmeta or {}))
        if vid is not None:
            variants[(pid, vid)] = (vname, vsku)
    out: dict[tuple[str, str | None], _Named] = {}
    for pid, vid in keys:
        product = products.get(pid)
        if product is None:
            continue
        name, sku, meta = product
        variant = variants.get((pid, vid)) if vid else None
        if variant is not None:
            name, sku = f"{name} — {variant[0]}", variant[1]
        out[(pid, vid)] = _Named(name, sku, meta)
    return out


async def _draft(call: EffectCall, payment: dict[str, Any]) -> OrderDraft:
    """The order's content from the totals the customer agreed to and paid."""
    totals = payment.get("totals") or {}
    ctx, row = call.context, call.checkout
    lines_json = list(totals.get("lines") or [])
    keys = [(str(line["product_id"]), line.get("variant_id")) for line in lines_json]
    named = await _line_names(call.s, keys)
    lines = []
    for line in lines_json:
        found = named.get((line["product_id"], line.get("variant_id")))
        meta = found.meta if found else {}
        lines.append(
            LineDraft(
                product_id=line["product_id"],
                variant_id=line.get("variant_id"),
                name=found.name if found else str(line["product_id"]),
                sku=found.sku if found else None,
                cart_item_id=line.get("line_id"),
                quantity=int(line["quantity"]),
                unit_price=int(line["unit_price"]),
                amount=int(line["amount"]),
                discount=int(line["discount"]),
                tax=int(line["tax"]),
                total=int(line["total"]),
                recurring=meta.get("recurring")
                if isinstance(meta.get("recurring"), dict)
                else None,
            )
        )
    shipping_line = totals.get("shipping_line") or {}
    return OrderDraft(
        checkout_id=row.id,
        currency=str(totals.get("currency") or payment.get("currency")),
        subtotal=int(totals.get("subtotal", 0)),
        discount_total=int(totals.get("discount", 0)),
        shipping_total=int(totals.get("shipping", 0)),
        tax_total=int(totals.get("tax", 0)),
        total=int(totals.get("total", payment.get("amount", 0))),
        lines=tuple(lines),
        shipping_paid=int(shipping_line.get("total", 0)),
        cart_id=row.cart_id,
        session_id=row.session_id,
        user_id=row.user_id,
        email=await _email_for(call),
        shipping_address=ctx.get("shipping_address"),
        billing_address=ctx.get("billing_address"),
        shipping_method=ctx.get("shipping_method"),
        meta={"attempt": payment.get("attempt"), "promotions": totals.get("promotions", [])},
    )


EFFECTS: dict[str, Callable[[EffectCall], Awaitable[None]]] = {
    "initiatePayment": initiate_payment,
    "requestCustomerAction": request_customer_action,
    "refreshPaymentStatus": refresh_payment_status,
    "handlePaymentSuccess": handle_payment_success,
    "handlePaymentFailure": handle_payment_failure,
    "handlePaymentRefund": handle_payment_refund,
    "createOrder": create_order,
}


def install_effects() -> None:
    """Register the payment effects on the checkout machine (idempotent)."""
    for action, effect in EFFECTS.items():
        register_effect(action, effect)
    # CONFIRM_ORDER's first action: the payment's checks run ahead of every lock it takes.
    register_effect("holdCoupons", check_payment, first=True)


def uninstall_effects() -> None:
    for action, effect in EFFECTS.items():
        unregister_effect(action, effect)
    unregister_effect("holdCoupons", check_payment)


# --- the finalize path -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    checkout_id: str
    state: str
    intent: PaymentIntentResult | None
    order_id: str | None
    # payment_refunded: how much went back and why (``context.payment.refund``).
    refund: dict[str, Any] | None = None


_PAYING = frozenset({State.payment_processing, State.payment_requires_action})
_CANNOT_FULFIL = frozenset({"out_of_stock", "coupon_unavailable", "payment_refunded"})


async def _read(rt: Runtime, checkout_id: str) -> tuple[State, dict[str, Any], str | None]:
    async with rt.db.transaction() as s:
        row = await s.get(Checkout, checkout_id, populate_existing=True)
        if row is None:
            raise NotFound("No such checkout.", code="checkout_not_found")
        order = await order_ref_for_checkout(s, checkout_id)
        return State(row.state), dict(row.context), (order[0] if order else None)


def _snapshot(state: State | str, ctx: dict[str, Any]) -> tuple[State, dict[str, Any], str | None]:
    """A checkout as :func:`_read` answers, from a row or view in hand. ``context.order`` is
    written by ``create_order`` in the order's own transaction, so it is there exactly
    when the checkout has an order."""
    order = ctx.get("order")
    order_id = order.get("id") if isinstance(order, dict) else None
    return State(state), dict(ctx), (str(order_id) if order_id else None)


def _recurring_hint(ctx: dict[str, Any]) -> bool | None:
    """Whether the checkout's order has recurring lines, as ``create_order`` noted it
    (None for an order made before it did: then the lines are asked)."""
    order = ctx.get("order")
    hint = order.get("recurring") if isinstance(order, dict) else None
    return hint if isinstance(hint, bool) else None


def _next_event(state: State, intent: PaymentIntentResult) -> Event | None:
    """The server event that brings a paying checkout in line with its intent."""
    status = intent.status
    if state is State.payment_success:
        return Event.PROCEED_TO_CONFIRMATION
    if state not in _PAYING:
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
    known: tuple[State, dict[str, Any], str | None] | None = None,
) -> SyncResult:
    """Bring the checkout in line with its PaymentIntent; create the order once paid.

    Safe to call any number of times from anywhere. ``intent``: the gateway's own read
    of it (never a webhook's copy), or None to read it here. An intent that is not the
    checkout's current one (an older attempt) never moves the checkout. ``known``: the
    checkout as the caller just read it (:func:`_snapshot`), saving the first read.
    """
    gateway = gateway_of(rt)
    for _ in range(6):
        state, ctx, order_id = known or await _read(rt, checkout_id)
        known = None
        payment = _payment(ctx)
        intent_id = payment.get("intent_id")
        if order_id is not None:
            await start_subscriptions(rt, order_id, recurring=_recurring_hint(ctx))
            return SyncResult(checkout_id, state.value, intent, order_id)
        if not intent_id:
            return SyncResult(checkout_id, state.value, intent, order_id)
        if intent is not None and intent.id != intent_id:
            # An older attempt's intent: it never moves the checkout, and if it took
            # money after all, that money goes back.
            await _refund_orphan(rt, gateway, checkout_id, intent)
            return SyncResult(checkout_id, state.value, intent, None)
        if state is State.payment_refunded:
            return SyncResult(checkout_id, state.value, intent, None, payment.get("refund"))
        if intent is None or intent.status is not IntentStatus.succeeded:
            # The gateway's current answer is the truth (webhooks arrive out of order).
            intent = await gateway.retrieve_payment_intent(
                intent_id, account=payment.get("account", "primary")
            )
        event = _next_event(state, intent)
        if event is None:
            if state not in _PAYING and state is not State.payment_success:
                await _refund_orphan(rt, gateway, checkout_id, intent)
            return SyncResult(checkout_id, state.value, intent, None)
        payload: dict[str, Any] = {"intent": _summary(intent)}
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
                if known is None:
                    return SyncResult(checkout_id, state.value, intent, None)
                continue
            if exc.code not in ("event_not_allowed", "checkout_expired"):
                raise
            # Someone else moved it meanwhile (or it expired): read again.
            continue
        # What our own step committed is the current checkout: no need to read it back.
        known = _snapshot(view.state, view.context)
    state, ctx, order_id = await _read(rt, checkout_id)
    if order_id is not None:
        await start_subscriptions(rt, order_id)
    return SyncResult(checkout_id, state.value, intent, order_id, _payment(ctx).get("refund"))


_INTERVAL_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


def _recurring_price(line: Any, currency: str) -> RecurringPrice | None:
    spec = line.recurring or {}
    interval = spec.get("interval")
    if interval not in _INTERVAL_SECONDS:
        return None
    return RecurringPrice(
        product_name=line.name,
        amount=line.unit_price,
        currency=currency,
        interval=interval,
        interval_count=int(spec.get("interval_count") or 1),
        quantity=line.quantity,
    )


async def start_subscriptions(
    rt: Runtime, order_id: str, *, recurring: bool | None = None
) -> SubscriptionRecord | None:
    """``processSubscription``: an order with recurring lines subscribes its customer.

    The order paid the first period, so the subscription's first charge is one period
    later (``trial_end``). Idempotent per order (gateway keys and the local record).
    ``recurring=False``: the caller knows the order has no recurring line.
    """
    if recurring is False:
        return None
    async with rt.db.transaction() as s:
        # Most orders have no recurring line: one narrow SELECT says so (the Order itself
        # would load its lines, payments and refunds).
        specs = await s.scalars(select(OrderLine.recurring).where(OrderLine.order_id == order_id))
        if not any(is_recurring(spec) for spec in specs):
            return None
        order = await s.get(Order, order_id)
        if order is None:
            return None
        prices = [p for p in (_recurring_price(ln, order.currency) for ln in order.lines) if p]
        if not prices:
            return None
        existing = await s.scalar(
            select(SubscriptionRecord).where(SubscriptionRecord.order_id == order_id)
        )
        if existing is not None:
            return existing
        payment = order.payments[0]
        user_id, email = order.user_id, order.email or ""
    gateway = gateway_of(rt)
    intent = await gateway.retrieve_payment_intent(
        payment.payment_intent_id, account=payment.account
    )
    if user_id is not None:
        customer_id = await customer_for(rt, gateway, user_id)
    else:
        customer = await gateway.create_customer(
            email=email, name=None, idempotency_key=f"tillpoint:order:{order_id}",
            metadata={"order_id": order_id},
        )  # fmt: skip
        customer_id = customer.id
    method = intent.payment_method_id
    if method is not None:
        try:
            await gateway.attach_payment_method(method, customer_id)
        except TillpointError:
            method = None  # the subscription then waits for a card (status incomplete)
    first = prices[0]
    period = _INTERVAL_SECONDS[first.interval] * first.interval_count
    result = await gateway.create_subscription(
        customer_id,
        prices,
        payment_method_id=method,
        idempotency_key=f"tillpoint:order:{order_id}",
        metadata={"order_id": order_id},
        trial_end=int(rt.clock.now().timestamp()) + period,
    )
    async with rt.db.transaction() as s:
        return await record_subscription(
            s, result, order_id=order_id, user_id=user_id, now=rt.clock.now()
        )


async def _refund_orphan(
    rt: Runtime,
    gateway: PaymentGateway,
    checkout_id: str,
    intent: PaymentIntentResult,
    *,
    reason: str = "no_order",
) -> RefundResult | None:
    """Money taken for a checkout that can no longer become an order goes back — once.

    The browser, the webhook and the sweeper may all get here for the same payment at
    the same moment; the one that moves the attempt to ``refunding`` (a conditional
    update, committed before the gateway is called) refunds, the others stop. A failed
    gateway call hands the claim back so a later sync retries it. Returns the refund
    this call made (None: nothing to give back, or another path has it); ``reason`` (why
    no order) goes to the gateway's refund metadata and the audit row.
    """
    if intent.status is not IntentStatus.succeeded:
        return None
    async with rt.db.transaction() as s:
        if await order_id_for_intent(s, intent.id) is not None:
            return None
        claimed = await attempts.claim_refund(s, intent.id, rt.clock.now())
    if claimed is None:
        return None  # refunded, or being refunded by someone else right now
    try:
        refund = await gateway.refund(
            intent.id,
            idempotency_key=f"tillpoint:orphan:{intent.id}",
            account=intent.account,
            metadata={"checkout_id": checkout_id, "reason": reason},
        )
    except Exception:
        async with rt.db.transaction() as s:
            await attempts.unclaim_refund(s, intent.id, claimed, rt.clock.now())
        raise
    async with rt.db.transaction() as s:
        await attempts.finish_refund(s, intent.id, rt.clock.now())
        await record(
            s,
            AuditEvent(
                REFUNDED_WITHOUT_ORDER, "payment", intent.id, "refund",
                {"checkout_id": checkout_id, "refund_id": refund.id, "amount": refund.amount,
                 "currency": refund.currency, "reason": reason},
            ),
            SYSTEM,
            rt.clock.now(),
        )  # fmt: skip
    log.warning("refunded a payment that has no order", extra={"intent": intent.id})
    return refund


REFUNDED_WITHOUT_ORDER = "payment_refunded_without_order"

# What the shopper reads when the checkout ends in payment_refunded, by why no order.
_STATEMENT = " It can take 5 to 10 business days to show on your statement."
REFUND_MESSAGES = {
    "out_of_stock": "Some items sold out while you were paying, so we could not place your "
    "order. Your payment has been refunded in full." + _STATEMENT,
    "coupon_unavailable": "A coupon on your order was used up while you were paying, so we "
    "could not place your order. Your payment has been refunded in full." + _STATEMENT,
}
_REFUND_MESSAGE = "We could not place your order, so your payment has been refunded in full."


def refund_message(reason: str) -> str:
    """The shopper's sentence for a payment refunded because no order could be made."""
    return REFUND_MESSAGES.get(reason, _REFUND_MESSAGE + _STATEMENT)


async def _recorded_refund(rt: Runtime, intent_id: str) -> dict[str, Any] | None:
    """The refund of a payment that has no order, as its audit row recorded it."""
    rows, _ = await query_logs(
        rt,
        AuditLogFilters(
            event_types=[REFUNDED_WITHOUT_ORDER], entity_type="payment", entity_id=intent_id
        ),
        limit=1,
    )
    if not rows:
        return None
    meta = rows[0].meta
    return {
        "id": meta.get("refund_id"),
        "amount": meta.get("amount"),
        "currency": meta.get("currency"),
        "reason": str(meta.get("reason") or "no_order"),
    }


async def _give_back(
    rt: Runtime,
    gateway: PaymentGateway,
    checkout_id: str,
    intent: PaymentIntentResult,
    code: str,
    actor: Actor,
) -> tuple[State, dict[str, Any], str | None] | None:
    """Paid, but no order can be made (``code``: the stock or a coupon ran out, or the
    payment went back already): refund it once and end the checkout in payment_refunded
    with the amount and a sentence saying why. Returns the checkout to go on from, or
    None while another path is refunding it (that path moves the checkout)."""
    refund = await _refund_orphan(rt, gateway, checkout_id, intent, reason=code)
    if refund is not None:
        facts: dict[str, Any] | None = {
            "id": refund.id, "amount": refund.amount, "currency": refund.currency,
            "reason": code,
        }  # fmt: skip
    else:
        # Refunded by another path, which may have stopped before moving the checkout:
        # the refund's record says how much and why, so every path says the same.
        facts = await _recorded_refund(rt, intent.id)
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
    return _snapshot(view.state, view.context)


# A webhook's "whose is this intent, and is it done?": the attempt (locked, as
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
            if rows[0].status not in attempts.FINAL:
                await attempts.settle_for_order(s, intent, rt.clock.now())
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


async def _apply_intent_event(rt: Runtime, gateway: PaymentGateway, event: WebhookEvent) -> None:
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


for _type in (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.processing",
    "payment_intent.canceled",
):
    register_applier(_type, _apply_intent_event)


# --- browser-facing use cases ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Owned:
    """What the browser-facing payment calls read of the caller's checkout."""

    id: str
    state: str
    context: dict[str, Any]


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
    return _Owned(checkout_id, found.state, dict(found.context or {}))


async def payment_intent_for(
    rt: Runtime, session: SessionContext, checkout_id: str
) -> dict[str, Any]:
    """The checkout's current PaymentIntent for Stripe.js (``create-intent``).

    409 ``payment_not_started`` until CONFIRM_ORDER has created one.
    """
    row = await _owned_checkout(rt, session, checkout_id)
    payment = _payment(row.context)
    if not payment.get("intent_id") or State(row.state) not in (
        *_PAYING,
        State.payment_failed,
    ):
        raise Conflict(
            "Confirm the order first (CONFIRM_ORDER).",
            code="payment_not_started",
            details={"state": row.state},
        )
    gateway = gateway_of(rt)
    intent = await gateway.retrieve_payment_intent(
        payment["intent_id"], account=payment.get("account", "primary")
    )
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
    payment = _payment(row.context)
    intent_id = payment.get("intent_id")
    if not intent_id:
        raise Conflict("Confirm the order first (CONFIRM_ORDER).", code="payment_not_started")
    gateway = gateway_of(rt)
    account = payment.get("account", "primary")
    intent = await gateway.retrieve_payment_intent(intent_id, account=account)
    if State(row.state) is State.payment_processing and (
        intent.status is IntentStatus.requires_confirmation
    ):
        intent = await gateway.confirm_payment_intent(
            intent_id,
            idempotency_key=idempotency_key(row.id, int(payment.get("attempt") or 1), "pay"),
            account=account,
        )
    return await sync_payment(
        rt, checkout_id, intent=intent, actor=actor, known=_snapshot(row.state, row.context)
    )


# --- recovery ----------------------------------------------------------------------------

RECOVERY_GRACE = timedelta(seconds=30)


async def finalize_stuck_payments(rt: Runtime, *, batch: int = 50) -> int:
    """Sweeper job: sync checkouts left paying or paid-without-order (a crash, a lost
    webhook); returns how many orders it created. A payment the customer left unfinished
    past the checkout's lifetime is canceled at the gateway and so fails: its cart (held
    while a checkout is paying) can change again."""
    now = rt.clock.now()
    cutoff = now - RECOVERY_GRACE
    states = [State.payment_processing, State.payment_requires_action, State.payment_success]
    async with rt.db.transaction() as s:
        rows = list(
            await s.execute(
                select(Checkout.id, Checkout.expires_at)
                .where(
                    Checkout.state.in_([st.value for st in states]), Checkout.updated_at < cutoff
                )
                .order_by(Checkout.updated_at)
                .limit(batch)
            )
        )
    created = 0
    for checkout_id, expires_at in rows:
        try:
            result = await sync_payment(rt, checkout_id)
            if expires_at <= now and await _cancel_abandoned(rt, result):
                result = await sync_payment(rt, checkout_id)
        except TillpointError as exc:
            log.warning(
                "payment recovery failed", extra={"checkout": checkout_id, "error": exc.code}
            )
            continue
        created += 1 if result.order_id and result.state == State.order_confirmation.value else 0
    return created


# Intents waiting on the customer (a card, a confirmation, the bank's challenge): nothing
# is charged yet, so canceling is safe. ``processing`` is the bank's turn: never canceled.
_AWAITING_CUSTOMER = frozenset(
    {
        IntentStatus.requires_payment_method,
        IntentStatus.requires_confirmation,
        IntentStatus.requires_action,
    }
)


async def _cancel_abandoned(rt: Runtime, result: SyncResult) -> bool:
    """Cancel the intent of a checkout still waiting on its customer; True if canceled (a
    confirmation racing it wins at the gateway, and the next sync sees that instead)."""
    intent = result.intent
    if State(result.state) not in _PAYING or intent is None:
        return False
    if intent.status not in _AWAITING_CUSTOMER:
        return False
    try:
        await gateway_of(rt).cancel_payment_intent(intent.id, account=intent.account)
    except GatewayRejected:
        return False  # confirmed or canceled meanwhile: the next sweep syncs it
    log.info("canceled an abandoned payment", extra={"checkout": result.checkout_id})
    return True
