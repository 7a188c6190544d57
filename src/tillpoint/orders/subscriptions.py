"""Local subscription records: created when a checkout with recurring lines subscribes
(``processSubscription``), kept current by ``customer.subscription.*`` and ``invoice.paid``
webhooks. An event older than the last one applied never overwrites newer state.

An event changes a record only if it agrees with it: the subscription id finds the row,
and the event's customer is the row's customer (a subscription never changes customer
at Stripe). An event naming our subscription with another customer changes nothing and
is audited (``webhook_subscription_mismatch``), in the event's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.ids import new_id
from tillpoint.orders.models import SubscriptionRecord
from tillpoint.orders.queries import insert_subscription_unless_recorded
from tillpoint.payments.public import PaymentGateway, SubscriptionResult, WebhookEvent
from tillpoint.runtime import Runtime

MISMATCH = "webhook_subscription_mismatch"


def _ts(value: object) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None


async def _ensure(
    s: AsyncSession, subscription_id: str, customer_id: str, status: str, now: datetime
) -> SubscriptionRecord:
    """The record of ``subscription_id``, locked; created if missing. A webhook and the
    checkout may both get here first, so the insert skips a row that already exists."""
    values = {
        "id": new_id("sub"), "gateway_subscription_id": subscription_id,
        "gateway_customer_id": customer_id, "status": status, "paid_invoices": 0,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    await s.execute(insert_subscription_unless_recorded(s, values))
    row = await _by_gateway_id(s, subscription_id)
    assert row is not None
    return row


async def _by_gateway_id(s: AsyncSession, subscription_id: str) -> SubscriptionRecord | None:
    stmt = select(SubscriptionRecord).where(
        SubscriptionRecord.gateway_subscription_id == subscription_id
    )
    return (await s.execute(stmt.with_for_update())).scalar_one_or_none()


async def record_subscription(
    s: AsyncSession,
    result: SubscriptionResult,
    *,
    order_id: str | None,
    user_id: str | None,
    now: datetime,
) -> SubscriptionRecord:
    """Keep the subscription a checkout created (idempotent per gateway subscription id)."""
    row = await _ensure(s, result.id, result.customer_id, result.status, now)
    row.current_period_end = row.current_period_end or _ts(result.current_period_end)
    row.latest_invoice_id = row.latest_invoice_id or result.latest_invoice_id
    row.order_id = row.order_id or order_id
    row.user_id = row.user_id or user_id
    await s.flush()
    return row


async def _agrees(
    s: AsyncSession, rt: Runtime, event: WebhookEvent, row: SubscriptionRecord, customer: str
) -> bool:
    """Whether ``event`` (naming ``customer``) is about ``row``; if not, audit it."""
    if customer == row.gateway_customer_id:
        return True
    meta = {"event_id": event.id, "type": event.type, "subscription": row.gateway_subscription_id}
    await record(
        s, AuditEvent(MISMATCH, "subscription", row.id, "ignore", meta), Actor(), rt.clock.now()
    )
    return False


async def subscription_changed(
    s: AsyncSession, rt: Runtime, gateway: PaymentGateway, event: WebhookEvent
) -> None:
    obj = event.object
    if obj.get("object") != "subscription" or not isinstance(obj.get("id"), str):
        return
    at = datetime.fromtimestamp(event.created, UTC)
    customer = str(obj.get("customer") or "")
    row = await _ensure(s, obj["id"], customer, str(obj.get("status") or "unknown"), rt.clock.now())
    if not await _agrees(s, rt, event, row, customer):
        return
    if row.last_event_at is not None and at < row.last_event_at:
        return  # an older snapshot arriving late
    status = "canceled" if event.type == "customer.subscription.deleted" else obj.get("status")
    row.status = str(status or row.status)
    row.current_period_end = _ts(obj.get("current_period_end")) or row.current_period_end
    row.last_event_at = at


async def invoice_paid(
    s: AsyncSession, rt: Runtime, gateway: PaymentGateway, event: WebhookEvent
) -> None:
    obj = event.object
    sub_id = obj.get("subscription")
    if obj.get("object") != "invoice" or not isinstance(sub_id, str):
        return
    customer = str(obj.get("customer") or "")
    row = await _ensure(s, sub_id, customer, "active", rt.clock.now())
    if not await _agrees(s, rt, event, row, customer):
        return
    row.paid_invoices += 1  # the event id is recorded once, so each invoice counts once
    row.latest_invoice_id = str(obj.get("id") or row.latest_invoice_id)
    row.last_paid_at = datetime.fromtimestamp(event.created, UTC)
    if row.status in ("incomplete", "trialing", "past_due", "unpaid"):
        row.status = "active"
