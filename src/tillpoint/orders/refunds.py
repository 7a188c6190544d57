"""Refunds: full or partial, never more than is still refundable, prorated per line.

Two short transactions around the gateway call, so no database lock is held while
Stripe answers: the first reserves the amount (order row locked, so two concurrent
refunds cannot both pass the check), the second records the outcome. A retry with
the same ``Idempotency-Key`` returns the first refund; the gateway sees the same
key too, so a refund whose answer was lost is not paid twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.errors import Conflict, InvalidInput, NotFound, TillpointError
from tillpoint.ids import is_valid_id, new_id
from tillpoint.inventory.public import adjust_stock, stock_rows
from tillpoint.orders.emails import queue_refund
from tillpoint.orders.models import Order, OrderLine, Refund
from tillpoint.orders.prorate import SHIPPING, prorate_refund
from tillpoint.orders.service import order_event_data
from tillpoint.payments.public import PaymentGateway, RefundResult
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import EventType, OrderRefundedData, RefundData, emit_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefundRequest:
    amount: int | None  # None: everything still refundable
    idempotency_key: str
    reason: str | None = None
    restock: bool = False


class RefundTooLarge(InvalidInput):
    code = "refund_exceeds_refundable"


def _refundable(order: Order) -> dict[str, int]:
    parts = {line.id: line.total - line.refunded_amount for line in order.lines}
    parts[SHIPPING] = order.shipping_refundable - order.shipping_refunded
    return parts


def _apply(order: Order, allocation: dict[str, int], sign: int) -> None:
    by_id = {line.id: line for line in order.lines}
    for part, value in allocation.items():
        if part == SHIPPING:
            order.shipping_refunded += sign * value
        else:
            by_id[part].refunded_amount += sign * value
    order.refunded_total = (
        sum(line.refunded_amount for line in order.lines) + order.shipping_refunded
    )


def _status(order: Order) -> str:
    if order.refunded_total == 0:
        return "held_for_review" if order.status == "held_for_review" else "paid"
    return "refunded" if order.refunded_total >= order.total else "partially_refunded"


async def _lock_order(s: AsyncSession, order_id: str) -> Order:
    order = None
    if is_valid_id(order_id, "ord"):
        order = await s.scalar(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if order is None:
        raise NotFound("No such order.", code="order_not_found")
    return order


async def _existing(s: AsyncSession, order_id: str, key: str) -> Refund | None:
    refund = await s.scalar(select(Refund).where(Refund.idempotency_key == key))
    if refund is not None and refund.order_id != order_id:
        raise Conflict(
            "This Idempotency-Key was used for another order.", code="idempotency_key_reused"
        )
    return refund


async def refund_order(
    rt: Runtime, gateway: PaymentGateway, order_id: str, request: RefundRequest, actor: Actor
) -> tuple[Refund, bool]:
    """Refund ``request.amount`` of the order; returns the refund and whether it is new.

    422 ``refund_exceeds_refundable`` if the amount is more than what is left; the
    gateway's refusal or unavailability leaves the order as it was.
    """
    key = f"{order_id}:{request.idempotency_key}"
    opened = await _open_refund(rt, order_id, key, request, actor)
    if isinstance(opened, Refund):
        return opened, False  # the same Idempotency-Key again: the first refund
    try:
        result = await gateway.refund(
            opened.intent_id,
            idempotency_key=f"tillpoint:refund:{key}",
            amount=opened.amount,
            account=opened.account,
            metadata={"order_id": order_id, "refund_id": opened.refund_id},
        )
    except TillpointError:
        await _withdraw_refund(rt, order_id, opened)
        raise
    row, restock = await _settle_refund(rt, order_id, opened, result, request, actor)
    await _restock(rt, order_id, row.id, restock, actor)
    return row, True


@dataclass(frozen=True, slots=True)
class _Opened:
    """A refund reserved on the order (first transaction), before the gateway is asked."""

    refund_id: str
    amount: int
    allocation: dict[str, int]
    intent_id: str
    account: str


async def _open_refund(
    rt: Runtime, order_id: str, key: str, request: RefundRequest, actor: Actor
) -> _Opened | Refund:
    """Reserve the amount on the locked order (a pending refund row), or find the refund
    this key made before."""
    async with rt.db.transaction() as s:
        order = await _lock_order(s, order_id)
        found = await _existing(s, order_id, key)
        if found is not None:
            return found
        refundable = _refundable(order)
        remaining = sum(refundable.values())
        amount = remaining if request.amount is None else request.amount
        if amount <= 0 or amount > remaining:
            raise RefundTooLarge(
                f"At most {remaining} can still be refunded.",
                details={"refundable": remaining, "requested": amount},
            )
        allocation = prorate_refund(amount, refundable)
        _apply(order, allocation, +1)
        payment = order.payments[0]
        refund = Refund(
            id=new_id("rf"),
            order_id=order.id,
            payment_id=payment.id,
            idempotency_key=key,
            amount=amount,
            currency=order.currency,
            status="pending",
            reason=request.reason,
            restock=request.restock,
            allocation=allocation,
            created_by=actor.user_id,
            created_at=rt.clock.now(),
        )
        s.add(refund)
        return _Opened(refund.id, amount, allocation, payment.payment_intent_id, payment.account)


async def _withdraw_refund(rt: Runtime, order_id: str, opened: _Opened) -> None:
    """The gateway refused or failed: give the reserved amount back to the order."""
    async with rt.db.transaction() as s:
        order = await _lock_order(s, order_id)
        _apply(order, opened.allocation, -1)
        row = await s.get(Refund, opened.refund_id)
        if row is not None:
            await s.delete(row)


async def _settle_refund(
    rt: Runtime,
    order_id: str,
    opened: _Opened,
    result: RefundResult,
    request: RefundRequest,
    actor: Actor,
) -> tuple[Refund, list[tuple[OrderLine, int]]]:
    """Record the gateway's answer and the order's new status; returns the refund and the
    tracked units to put back on the shelf."""
    async with rt.db.transaction() as s:
        order = await _lock_order(s, order_id)
        row = await s.get(Refund, opened.refund_id, populate_existing=True)
        assert row is not None
        row.status = "succeeded" if result.status == "succeeded" else result.status
        row.gateway_refund_id = result.id
        order.status = _status(order)
        restock = _units_to_restock(order, opened.allocation) if request.restock else []
        tracked = await stock_rows(s, [(line.product_id, line.variant_id) for line, _ in restock])
        restock = [(ln, q) for ln, q in restock if (ln.product_id, ln.variant_id) in tracked]
        meta = {
            "refund_id": row.id,
            "amount": opened.amount,
            "currency": order.currency,
            "restock": request.restock,
        }
        await record(
            s,
            AuditEvent("refund_created", "order", order.id, "refund", meta),
            actor,
            rt.clock.now(),
        )
        if row.status == "succeeded":
            queue_refund(s, rt.settings, order, row, rt.clock.now())
            await _emit_refunded(s, order, row, rt.clock.now())
    return row, restock


async def _emit_refunded(s: AsyncSession, order: Order, refund: Refund, now: datetime) -> None:
    refund_data = RefundData(
        id=refund.id, amount=refund.amount, currency=refund.currency, reason=refund.reason
    )
    data = OrderRefundedData(**dict(order_event_data(order)), refund=refund_data)
    await emit_event(s, EventType.order_refunded, data, now=now)


async def _restock(
    rt: Runtime,
    order_id: str,
    refund_id: str,
    restock: list[tuple[OrderLine, int]],
    actor: Actor,
) -> None:
    """Put refunded units back; a failure is logged (the refund itself stands)."""
    for line, quantity in restock:
        try:
            await adjust_stock(
                rt, line.product_id, variant_id=line.variant_id, delta=quantity,
                reason=f"refund {refund_id} of order {order_id}", actor=actor,
            )  # fmt: skip
        except TillpointError:
            log.exception("restock after refund failed", extra={"refund": refund_id})


def _units_to_restock(order: Order, allocation: dict[str, int]) -> list[tuple[OrderLine, int]]:
    """The units a refund fully pays back (a line refunded to the penny: all of them)."""
    out = []
    for line in order.lines:
        if line.id not in allocation or line.total == 0:
            continue
        paid_back = (line.refunded_amount * line.quantity) // line.total
        quantity = paid_back - line.restocked_quantity
        if quantity > 0:
            line.restocked_quantity += quantity
            out.append((line, quantity))
    return out
