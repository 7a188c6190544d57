"""Money taken for a checkout that can no longer become an order goes back, once, with
the reason recorded (an audit row) and the sentence the shopper reads."""

from __future__ import annotations

import logging
from typing import Any

from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.audit.service import SYSTEM, AuditEvent, record
from tillpoint.orders.public import order_id_for_intent
from tillpoint.payments import public as payments_public
from tillpoint.payments.public import (
    IntentStatus,
    PaymentGateway,
    PaymentIntentResult,
    RefundResult,
)
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)


async def refund_orphan(
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
        claimed = await payments_public.claim_refund(s, intent.id, rt.clock.now())
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
            await payments_public.unclaim_refund(s, intent.id, claimed, rt.clock.now())
        raise
    async with rt.db.transaction() as s:
        await payments_public.finish_refund(s, intent.id, rt.clock.now())
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


async def recorded_refund(rt: Runtime, intent_id: str) -> dict[str, Any] | None:
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
