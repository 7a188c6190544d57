"""Payment attempts: one row per PaymentIntent we create, kept current by gateway answers
and webhooks. A succeeded attempt is never moved back by a late or replayed event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.payments.gateway import IntentStatus, PaymentIntentResult
from tillpoint.payments.models import PaymentAttempt
from tillpoint.payments.velocity import AttemptKeys

REFUNDED = "refunded"  # ours: taken, but no order could be made, so given back

# Statuses an attempt cannot leave: later news about it must not overwrite them.
FINAL = frozenset({IntentStatus.succeeded.value, IntentStatus.canceled.value, REFUNDED})


async def record_attempt(
    s: AsyncSession,
    *,
    keys: AttemptKeys,
    gateway: str,
    intent: PaymentIntentResult,
    now: datetime,
) -> PaymentAttempt:
    """Add the attempt behind ``intent`` to the unit of work (counted by velocity checks)."""
    row = PaymentAttempt(
        id=new_id("patt"),
        checkout_id=keys.checkout_id,
        session_id=keys.session_id,
        email=keys.email.strip().lower() if keys.email else None,
        card_fingerprint=keys.card_fingerprint or intent.card_fingerprint,
        gateway=gateway,
        account=intent.account,
        payment_intent_id=intent.id,
        amount=intent.amount,
        currency=intent.currency,
        status=intent.status.value,
        decline_code=intent.decline_code,
        decline_message=intent.decline_message,
        risk_level=intent.risk_level,
        created_at=now,
    )
    s.add(row)
    await s.flush()
    return row


async def attempt_for_intent(s: AsyncSession, intent_id: str) -> PaymentAttempt | None:
    """The attempt row of a PaymentIntent, locked for update on PostgreSQL."""
    stmt = select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == intent_id)
    return (await s.execute(stmt.with_for_update())).scalar_one_or_none()


async def apply_intent(
    s: AsyncSession, intent: PaymentIntentResult, now: datetime
) -> PaymentAttempt | None:
    """Bring the attempt of ``intent`` up to date; a final status is never overwritten.

    Returns the attempt (``None`` if we never created this intent).
    """
    row = await attempt_for_intent(s, intent.id)
    if row is None or row.status in FINAL:
        return row
    row.status = intent.status.value
    row.decline_code = intent.decline_code
    row.decline_message = intent.decline_message
    row.risk_level = intent.risk_level or row.risk_level
    row.card_fingerprint = row.card_fingerprint or intent.card_fingerprint
    row.updated_at = now
    return row
