"""The seed's AuditLogService: append hash-chained audit rows inside the caller's unit of
work, so a change and its audit row commit or roll back together.

Every feature emits through :func:`record` (or the typed ``log_*`` helpers over it).
Metadata is scrubbed first: card numbers, CVVs, passwords and tokens never reach the
table. :func:`record` takes the lock of one chain head (of ``TILLPOINT_AUDIT_CHAINS``),
held until the caller commits, so call it after taking your own row locks (in practice:
at the end of the unit of work). Every record of one unit of work goes to the same chain.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.chain import Along, ChainedRow, append
from tillpoint.audit.events import CheckoutEventType, PaymentEventType, SecurityEventType
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime
from tillpoint.security.scrub import scrub, scrub_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event: session/user and where the request came from."""

    session_id: str | None = None
    user_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_type: str  # e.g. "item_added", "payment_succeeded", "login_failed"
    entity_type: str  # "cart", "checkout", "order", "payment", "user", ...
    entity_id: str
    action: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _safe_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    # Scrub, then round-trip through JSON so the hashed value is exactly the stored one.
    cleaned: dict[str, Any] = json.loads(json.dumps(scrub(dict(metadata)), default=str))
    return cleaned


def _clip(value: str | None, size: int) -> str | None:
    return scrub_text(value)[:size] or None if value else None


async def record(
    s: AsyncSession, event: AuditEvent, actor: Actor, at: datetime, *, along: Along | None = None
) -> ChainedRow:
    """Append one audit row to the unit of work ``s`` (it commits with the change it
    records), chained to the row before it in the chain this unit of work appends to.
    ``along``: the change itself as a Core statement, sent with the row when it can be
    (one round trip on PostgreSQL), else just before it."""
    row = ChainedRow(
        id=new_id("aud"),
        event_type=event.event_type[:64],
        entity_type=event.entity_type[:40],
        entity_id=scrub_text(event.entity_id)[:80],
        action=event.action[:64],
        meta=_safe_metadata(event.metadata),
        session_id=actor.session_id,
        user_id=actor.user_id,
        ip_address=_clip(actor.ip_address, 64),
        user_agent=_clip(actor.user_agent, 512),
        timestamp=at,
    )
    # The chain head must be the last lock the transaction takes (docs/security.md, Audit trail):
    # ORM changes made before this call are written first, not at commit after the head.
    if s.new or s.dirty or s.deleted:
        await s.flush()
    # Written with Core statements, so the returned row is not in the session.
    return await append(s, row, along)


async def log_checkout_event(
    s: AsyncSession,
    event_type: CheckoutEventType,
    *,
    cart_id: str,
    actor: Actor,
    at: datetime,
    checkout_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChainedRow:
    """The seed's ``logCheckoutEvent``: a cart or checkout step, in the caller's transaction.
    The entity is the checkout when there is one, else the cart; ``cart_id`` is kept in
    the metadata either way."""
    entity_type, entity_id = ("checkout", checkout_id) if checkout_id else ("cart", cart_id)
    meta = {"cart_id": cart_id, **(metadata or {})}
    return await record(
        s, AuditEvent(event_type, entity_type, entity_id, event_type, meta), actor, at
    )


async def log_payment_event(
    s: AsyncSession,
    event_type: PaymentEventType,
    *,
    payment_intent_id: str,
    amount: int,
    currency: str,
    payment_method: str,
    status: str,
    actor: Actor,
    at: datetime,
    metadata: dict[str, Any] | None = None,
) -> ChainedRow:
    """The seed's ``logPaymentEvent``: amount in minor units, in the caller's transaction."""
    meta = {
        "payment_intent_id": payment_intent_id,
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "status": status,
        **(metadata or {}),
    }
    event = AuditEvent(event_type, "payment", payment_intent_id, status or event_type, meta)
    return await record(s, event, actor, at)


async def record_security_event(
    s: AsyncSession,
    event_type: SecurityEventType | str,
    *,
    actor: Actor,
    at: datetime,
    entity_type: str = "client",
    entity_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChainedRow:
    """The seed's ``logSecurityEvent`` in the caller's unit of work ``s`` (the row commits
    or rolls back with it). The entity defaults to the client's address."""
    event = AuditEvent(
        str(event_type),
        entity_type,
        entity_id or actor.ip_address or "unknown",
        str(event_type),
        dict(metadata or {}),
    )
    return await record(s, event, actor, at)


async def log_security_event(
    rt: Runtime,
    event_type: SecurityEventType | str,
    *,
    actor: Actor,
    entity_type: str = "client",
    entity_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChainedRow | None:
    """:func:`record_security_event` in a unit of work of its own, for the edge (a refused
    request). A storage failure is logged and None returned, never raised: a security
    event must not turn a 403/429 into a 500."""
    try:
        async with rt.db.transaction() as s:
            return await record_security_event(
                s,
                event_type,
                actor=actor,
                at=rt.clock.now(),
                entity_type=entity_type,
                entity_id=entity_id,
                metadata=metadata,
            )
    except Exception:
        log.exception("could not write security audit event", extra={"event": str(event_type)})
        return None
