"""Refunds: full or partial, by amount or by line, never more than is still refundable,
and restocking exactly the units they name (see ``refund_plan`` for the rules); and
cancelling an order that has not shipped (everything left refunded and restocked).

Two short transactions around the gateway call, so no database lock is held while
Stripe answers: the first reserves the amount and the units (order row locked, so two
concurrent refunds cannot both pass the check), the second records the outcome. A retry
with the same ``Idempotency-Key`` returns the first refund; the gateway sees the same
key too, so a refund whose answer was lost is not paid twice. Stock rises after the
second commits (``inventory.public.adjust_stock``, by exactly the units restocked).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.errors import Conflict, TillpointError
from tillpoint.ids import new_id
from tillpoint.inventory.public import adjust_stock, stock_rows
from tillpoint.orders.emails import queue_refund
from tillpoint.orders.fulfilment import fulfillment_status, lock_order
from tillpoint.orders.models import Order, OrderLine, Refund
from tillpoint.orders.refund_plan import (
    RefundLine,
    RefundPlan,
    RefundTooLarge,
    apply_plan,
    plan_by_amount,
    plan_by_lines,
    plan_cancel,
)
from tillpoint.orders.service import order_event_data
from tillpoint.orders.tax_record import queue_refund as queue_tax_refund
from tillpoint.payments.public import PaymentGateway, RefundResult
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import (
    EventType,
    OrderCancelledData,
    OrderRefundedData,
    RefundData,
    emit_event,
)

log = logging.getLogger(__name__)

__all__ = ["RefundLine", "RefundRequest", "RefundTooLarge", "cancel_order", "refund_order"]


@dataclass(frozen=True, slots=True)
class RefundRequest:
    amount: int | None  # None: everything still refundable (or the lines' money)
    idempotency_key: str
    reason: str | None = None
    restock: bool = False
    lines: Sequence[RefundLine] | None = None
    cancel: bool = False  # cancel the order: everything left, every unit restocked


def _status(order: Order) -> str:
    if order.refunded_total == 0:
        return "held_for_review" if order.status == "held_for_review" else "paid"
    return "refunded" if order.refunded_total >= order.total else "partially_refunded"


async def _existing(s: AsyncSession, order_id: str, key: str) -> Refund | None:
    refund = await s.scalar(select(Refund).where(Refund.idempotency_key == key))
    if refund is not None and refund.order_id != order_id:
        raise Conflict(
            "This Idempotency-Key was used for another order.", code="idempotency_key_reused"
        )
    return refund


async def refund_order(
    rt: Runtime, gateway: PaymentGateway, order_id: str, request: RefundRequest, actor: Actor
) -> tuple[Refund | None, bool]:
    """Refund (and restock) what ``request`` names; returns the refund and whether it is
    new. A cancel of an order with nothing left to refund answers ``(None, True)``.

    422 ``refund_exceeds_refundable`` if the amount is more than what is left; the
    gateway's refusal or unavailability leaves the order as it was.
    """
    key = f"{order_id}:{request.idempotency_key}"
    opened = await _open_refund(rt, order_id, key, request, actor)
    if isinstance(opened, Refund):
        return opened, False  # the same Idempotency-Key again: the first refund
    if opened.refund_id is None:
        await _restock(rt, f"cancel of order {order_id}", opened.stock, actor)
        return None, True
    try:
        result = await gateway.refund(
            opened.intent_id,
            idempotency_key=f"tillpoint:refund:{key}",
            amount=opened.plan.amount,
            account=opened.account,
            metadata={"order_id": order_id, "refund_id": opened.refund_id},
        )
    except TillpointError:
        await _withdraw_refund(rt, order_id, opened)
        raise
    row = await _settle_refund(rt, order_id, opened, result, request, actor)
    await _restock(rt, f"refund {row.id} of order {order_id}", opened.stock, actor)
    return row, True


async def cancel_order(
    rt: Runtime, gateway: PaymentGateway, order_id: str, reason: str | None, actor: Actor
) -> Refund | None:
    """Cancel an order nothing of which shipped: refund everything left and restock every
    unit, in one step. 409 ``order_already_shipped`` / ``order_already_cancelled``."""
    request = RefundRequest(None, _CANCEL_KEY, reason=reason, cancel=True)
    refund, _ = await refund_order(rt, gateway, order_id, request, actor)
    return refund


# A cancel's refund key: one per order, and no Idempotency-Key header can spell it.
_CANCEL_KEY = "order cancel"


@dataclass(frozen=True, slots=True)
class _Opened:
    """A refund reserved on the order (first transaction), before the gateway is asked."""

    refund_id: str | None  # None: a cancel with nothing left to refund (already done)
    plan: RefundPlan
    intent_id: str
    account: str
    stock: list[tuple[OrderLine, int]]  # tracked units to put back on the shelf
    cancel: bool = False


def _plan(order: Order, request: RefundRequest) -> RefundPlan:
    if request.cancel:
        if order.cancelled_at is not None:
            raise Conflict("This order is already cancelled.", code="order_already_cancelled")
        if any(line.shipped_quantity for line in order.lines):
            raise Conflict(
                "Part of this order has shipped: refund its lines instead.",
                code="order_already_shipped",
            )
        return plan_cancel(order)
    if request.lines:
        return plan_by_lines(order, request.lines, request.amount, request.restock)
    return plan_by_amount(order, request.amount, request.restock)


async def _tracked(s: AsyncSession, order: Order, plan: RefundPlan) -> list[tuple[OrderLine, int]]:
    """The plan's restocked units whose SKU inventory tracks (others have no stock row)."""
    by_id = {line.id: line for line in order.lines}
    wanted = [(by_id[lid], q) for lid, q in plan.restock.items() if q > 0]
    rows = await stock_rows(s, [(ln.product_id, ln.variant_id) for ln, _ in wanted])
    return [(ln, q) for ln, q in wanted if (ln.product_id, ln.variant_id) in rows]


async def _open_refund(
    rt: Runtime, order_id: str, key: str, request: RefundRequest, actor: Actor
) -> _Opened | Refund:
    """Reserve the amount and the units on the locked order (a pending refund row), or
    find the refund this key made before."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        order = await lock_order(s, order_id)
        if not request.cancel:
            found = await _existing(s, order_id, key)
            if found is not None:
                return found
        plan = _plan(order, request)
        apply_plan(order, plan, +1)
        stock = await _tracked(s, order, plan)
        if request.cancel:
            order.cancelled_at = now
        order.fulfillment_status = fulfillment_status(order)
        payment = order.payments[0]
        if plan.amount == 0:  # a cancel with nothing left to refund: done here
            order.status = _status(order)
            await _audit_cancel(s, rt, order, None, stock, request.reason, actor)
            return _Opened(None, plan, payment.payment_intent_id, payment.account, stock, True)
        refund = Refund(
            id=new_id("rf"), order_id=order.id, payment_id=payment.id, idempotency_key=key,
            amount=plan.amount, currency=order.currency, status="pending",
            reason=request.reason, restock=bool(plan.restock), allocation=plan.allocation,
            restocked=_restocked_json(stock), created_by=actor.user_id, created_at=now,
        )  # fmt: skip
        s.add(refund)
        return _Opened(
            refund.id, plan, payment.payment_intent_id, payment.account, stock, request.cancel
        )


def _restocked_json(stock: list[tuple[OrderLine, int]]) -> list[dict[str, object]]:
    return [{"line_id": ln.id, "sku": ln.sku, "quantity": q} for ln, q in stock]


async def _withdraw_refund(rt: Runtime, order_id: str, opened: _Opened) -> None:
    """The gateway refused or failed: give the reserved amount and units back (and undo
    the cancel this was)."""
    async with rt.db.transaction() as s:
        order = await lock_order(s, order_id)
        apply_plan(order, opened.plan, -1)
        row = await s.get(Refund, opened.refund_id)
        if row is not None:
            await s.delete(row)
        if opened.cancel:
            order.cancelled_at = None
        order.fulfillment_status = fulfillment_status(order)


async def _settle_refund(
    rt: Runtime,
    order_id: str,
    opened: _Opened,
    result: RefundResult,
    request: RefundRequest,
    actor: Actor,
) -> Refund:
    """Record the gateway's answer and the order's new status, audit and e-mail it. For a
    cancel, this unit of work is the one where the cancellation stands."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        order = await lock_order(s, order_id)
        row = await s.get(Refund, opened.refund_id, populate_existing=True)
        assert row is not None
        row.status = "succeeded" if result.status == "succeeded" else result.status
        row.gateway_refund_id = result.id
        order.status = _status(order)
        meta = {
            "refund_id": row.id,
            "amount": opened.plan.amount,
            "currency": order.currency,
            "restock": request.restock,
            "lines": [{"line_id": k, "quantity": v} for k, v in opened.plan.refunded_units.items()],
            "restocked": row.restocked or [],
        }
        await record(s, AuditEvent("refund_created", "order", order.id, "refund", meta), actor, now)
        if request.cancel:
            await _audit_cancel(s, rt, order, row, opened.stock, request.reason, actor)
        if row.status == "succeeded":
            by_id = {line.id: line for line in order.lines}
            named = [(by_id[k], v) for k, v in opened.plan.refunded_units.items()]
            queue_refund(s, rt.settings, order, row, now, named)
            await _emit_refunded(s, order, row, now)
            queue_tax_refund(
                s, rt.settings, order, row, opened.plan.refunded_units,
                cancel=request.cancel, now=now,
            )  # fmt: skip
    return row


async def _audit_cancel(
    s: AsyncSession,
    rt: Runtime,
    order: Order,
    refund: Refund | None,
    stock: list[tuple[OrderLine, int]],
    reason: str | None,
    actor: Actor,
) -> None:
    meta = {
        "refund_id": refund.id if refund is not None else None,
        "amount": refund.amount if refund is not None else 0,
        "reason": reason,
        "restocked": _restocked_json(stock),
    }
    event = AuditEvent("order_cancelled", "order", order.id, "cancel", meta)
    now = rt.clock.now()
    await record(s, event, actor, now)
    # Announced with the change: the unit of work in which the cancellation stands.
    data = OrderCancelledData(
        **dict(order_event_data(order)),
        cancelled_at=order.cancelled_at or now,
        refund=None if refund is None else _refund_data(refund),
    )
    await emit_event(s, EventType.order_cancelled, data, now=now)


def _refund_data(refund: Refund) -> RefundData:
    return RefundData(
        id=refund.id, amount=refund.amount, currency=refund.currency, reason=refund.reason
    )


async def _emit_refunded(s: AsyncSession, order: Order, refund: Refund, now: datetime) -> None:
    data = OrderRefundedData(**dict(order_event_data(order)), refund=_refund_data(refund))
    await emit_event(s, EventType.order_refunded, data, now=now)


async def _restock(
    rt: Runtime, reason: str, restock: list[tuple[OrderLine, int]], actor: Actor
) -> None:
    """Put refunded units back; a failure is logged (the refund itself stands)."""
    for line, quantity in restock:
        try:
            await adjust_stock(
                rt, line.product_id, variant_id=line.variant_id, delta=quantity,
                reason=reason, actor=actor,
            )  # fmt: skip
        except TillpointError:
            log.exception("restock after refund failed", extra={"restock": reason})
