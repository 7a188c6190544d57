"""Emitting an event: stored with one pending delivery per active endpoint subscribed to
its type, in the caller's unit of work, so it is sent only if the change it announces
commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.webhooks.events import EventData, EventType
from tillpoint.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


async def emit_event(
    s: AsyncSession, event_type: EventType, data: EventData, *, now: datetime | None = None
) -> str | None:
    """Queue ``event_type`` with ``data`` for every active endpoint subscribed to it, in
    ``s``'s transaction; returns the event's id, or None when nobody subscribes (then
    nothing is written: an order costs one extra SELECT, not three statements)."""
    at = now or datetime.now(UTC)
    rows = await s.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True))
    )
    targets = sorted(endpoint_id for endpoint_id, events in rows if event_type.value in events)
    if not targets:
        return None
    event_id = new_id("evt")
    # Core statements (no ORM objects): nothing else of the caller's session is flushed.
    await s.execute(
        insert(WebhookEvent).values(
            id=event_id, type=event_type.value, payload=data.model_dump(mode="json"), created_at=at
        )
    )
    await s.execute(
        insert(WebhookDelivery),
        [
            {
                "id": new_id("whdl"),
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type.value,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
            for endpoint_id in targets
        ],
    )
    return event_id
