"""Recovery (a sweeper job): checkouts left paying or paid-without-order after a crash
or a lost webhook are synced; payments abandoned past the checkout's lifetime are
canceled at the gateway."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from tillpoint.checkout.machine import State
from tillpoint.checkout.models import Checkout
from tillpoint.checkout.payment_sync import PAYING, SyncResult, sync_payment
from tillpoint.errors import TillpointError
from tillpoint.payments.public import GatewayRejected, IntentStatus
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)

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
    if State(result.state) not in PAYING or intent is None:
        return False
    if intent.status not in _AWAITING_CUSTOMER:
        return False
    try:
        await rt.gateway.cancel_payment_intent(intent.id, account=intent.account)
    except GatewayRejected:
        return False  # confirmed or canceled meanwhile: the next sweep syncs it
    log.info("canceled an abandoned payment", extra={"checkout": result.checkout_id})
    return True
