"""Record audit events inside the caller's unit of work, so a change and its audit row
commit or roll back together. Every feature emits through :func:`record`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.models import AuditLog
from tillpoint.ids import new_id


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


async def record(s: AsyncSession, event: AuditEvent, actor: Actor, at: datetime) -> AuditLog:
    """Add one audit row to the unit of work ``s`` (it commits with the change it records)."""
    row = AuditLog(
        id=new_id("aud"),
        event_type=event.event_type,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        action=event.action,
        meta=dict(event.metadata),
        session_id=actor.session_id,
        user_id=actor.user_id,
        ip_address=actor.ip_address,
        user_agent=(actor.user_agent or "")[:512] or None,
        timestamp=at,
    )
    s.add(row)
    return row
