"""``processSubscription``: after the order, a paid checkout with recurring lines
subscribes its customer at the gateway (idempotent per order)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tillpoint.errors import TillpointError
from tillpoint.orders.public import (
    Order,
    OrderLine,
    SubscriptionRecord,
    is_recurring,
    record_subscription,
)
from tillpoint.payments.public import RecurringPrice, customer_for
from tillpoint.runtime import Runtime

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
    gateway = rt.gateway
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
