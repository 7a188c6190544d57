"""Payment attempts: one row per PaymentIntent we create, kept current by gateway answers
and webhooks. A succeeded attempt is never moved back by a late or replayed event."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.payments.gateway import IntentStatus, PaymentIntentResult
from tillpoint.payments.models import PaymentAttempt
from tillpoint.payments.velocity import AttemptKeys

REFUNDED = "refunded"  # ours: taken, but no order could be made, so given back
REFUNDING = "refunding"  # ours: one finalize path has claimed that refund (see claim_refund)
GIVEN_BACK = frozenset({REFUNDING, REFUNDED})
# A claim older than this was left by a path that died between claiming and refunding
# (the gateway call takes seconds): another path may take it over. The gateway's
# idempotency key makes a second refund call answer with the first refund, if any.
REFUND_CLAIM_LEASE = timedelta(minutes=5)

# Statuses an attempt cannot leave: later news about it must not overwrite them.
FINAL = frozenset({IntentStatus.succeeded.value, IntentStatus.canceled.value, *GIVEN_BACK})
_FINAL_LIST = sorted(FINAL)

_TABLE = cast(Table, PaymentAttempt.__table__)
# Executed with every column but updated_at (the database's default); built once.
_INSERT = _TABLE.insert()


async def record_attempt(
    s: AsyncSession,
    *,
    keys: AttemptKeys,
    gateway: str,
    intent: PaymentIntentResult,
    now: datetime,
) -> str:
    """Insert the attempt behind ``intent`` in the unit of work (counted by velocity checks);
    returns its id. One Core INSERT (CONFIRM_ORDER's hot path: no ORM object to flush)."""
    attempt_id = new_id("patt")
    await s.execute(
        _INSERT,
        {
            "id": attempt_id,
            "checkout_id": keys.checkout_id,
            "session_id": keys.session_id,
            "email": keys.email.strip().lower() if keys.email else None,
            "card_fingerprint": keys.card_fingerprint or intent.card_fingerprint,
            "gateway": gateway,
            "account": intent.account,
            "payment_intent_id": intent.id,
            "amount": intent.amount,
            "currency": intent.currency,
            "status": intent.status.value,
            "decline_code": intent.decline_code,
            "decline_message": intent.decline_message,
            "risk_level": intent.risk_level,
            "created_at": now,
        },
    )
    return attempt_id


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
    if row is not None:
        apply_to(row, intent, now)
    return row


def apply_to(row: PaymentAttempt, intent: PaymentIntentResult, now: datetime) -> None:
    """:func:`apply_intent` on an attempt already read (and locked) by the caller."""
    if row.status in FINAL:
        return
    row.status = intent.status.value
    row.decline_code = intent.decline_code
    row.decline_message = intent.decline_message
    row.risk_level = intent.risk_level or row.risk_level
    row.card_fingerprint = row.card_fingerprint or intent.card_fingerprint
    row.updated_at = now


def _new(column: str) -> Any:
    """The new value of ``column``, bound by a name no column has (SET reserves those)."""
    return bindparam(f"new_{column}", type_=_TABLE.c[column].type)


@functools.cache
def _settle_statement(risk_level: bool, fingerprint: bool) -> Any:
    """settle_for_order's UPDATE, built once per shape: a risk level only when the intent
    has one, a fingerprint only where the attempt has none."""
    columns = ["status", "decline_code", "decline_message", "updated_at"]
    values: dict[Any, Any] = {_TABLE.c[name]: _new(name) for name in columns}
    if risk_level:
        values[_TABLE.c.risk_level] = _new("risk_level")
    if fingerprint:
        values[_TABLE.c.card_fingerprint] = func.coalesce(
            _TABLE.c.card_fingerprint, _new("card_fingerprint")
        )
    return (
        _TABLE.update()
        .where(
            _TABLE.c.payment_intent_id == bindparam("intent_id"),
            _TABLE.c.status.not_in(_FINAL_LIST),
        )
        .values(values)
        .returning(_TABLE.c.status)
    )


async def settle_for_order(
    s: AsyncSession, intent: PaymentIntentResult, now: datetime
) -> str | None:
    """:func:`apply_intent` as one conditional UPDATE (no ORM load and flush), for order
    creation and webhooks, where the attempt is usually open. Returns the attempt's status
    after it (None if we have no attempt for ``intent``); a final status is read (locked),
    never changed."""
    moved = await s.execute(
        _settle_statement(bool(intent.risk_level), bool(intent.card_fingerprint)),
        {
            "intent_id": intent.id,
            "new_status": intent.status.value,
            "new_decline_code": intent.decline_code,
            "new_decline_message": intent.decline_message,
            "new_updated_at": now,
            "new_risk_level": intent.risk_level,
            "new_card_fingerprint": intent.card_fingerprint,
        },
    )
    status = moved.scalar_one_or_none()
    if status is not None:
        return str(status)
    # Final already (or no attempt): read it, locked as attempt_for_intent locks it.
    found = await s.scalar(
        select(PaymentAttempt.status)
        .where(PaymentAttempt.payment_intent_id == intent.id)
        .with_for_update()
    )
    return str(found) if found is not None else None


async def claim_refund(s: AsyncSession, intent_id: str, now: datetime) -> str | None:
    """Claim the refund of a payment that has no order: one conditional update, so of
    the paths racing here (browser, webhook, sweeper) exactly one gets it. Returns the
    status to restore if the refund fails ("" when we have no attempt row for the
    intent: the gateway's idempotency key is then the only guard), or None when the
    refund is already done or being done (a claim older than ``REFUND_CLAIM_LEASE``
    counts as abandoned and is taken over)."""
    row = await attempt_for_intent(s, intent_id)
    if row is None:
        return ""
    # Taking over an abandoned claim: a failure hands back what the intent is, succeeded.
    previous = IntentStatus.succeeded.value if row.status == REFUNDING else row.status
    claimable = or_(
        PaymentAttempt.status.not_in(list(GIVEN_BACK)),
        (PaymentAttempt.status == REFUNDING)
        & (PaymentAttempt.updated_at < now - REFUND_CLAIM_LEASE),
    )
    result = await s.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == row.id, claimable)
        .values(status=REFUNDING, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return previous if result.rowcount == 1 else None


async def unclaim_refund(s: AsyncSession, intent_id: str, previous: str, now: datetime) -> None:
    """The gateway refused or failed: hand the claim back so a later sync tries again."""
    if not previous:
        return
    await s.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.payment_intent_id == intent_id, PaymentAttempt.status == REFUNDING)
        .values(status=previous, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def finish_refund(s: AsyncSession, intent_id: str, now: datetime) -> None:
    await s.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.payment_intent_id == intent_id)
        .values(status=REFUNDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
