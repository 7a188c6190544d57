"""Managing webhook endpoints (admin): register, list, read, change, remove, rotate the
signing secret, and read an endpoint's deliveries. Every change is audited; the secret
never goes into the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.errors import FieldError, InvalidInput, NotFound
from tillpoint.ids import is_valid_id, new_id
from tillpoint.runtime import Runtime
from tillpoint.webhooks.events import EventType
from tillpoint.webhooks.models import WebhookDelivery, WebhookEndpoint
from tillpoint.webhooks.signing import new_secret
from tillpoint.webhooks.urls import check_url


@dataclass(frozen=True, slots=True)
class EndpointDraft:
    url: str
    events: tuple[EventType, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """What to change; None keeps a field (an empty ``description`` clears it)."""

    url: str | None = None
    events: tuple[EventType, ...] | None = None
    description: str | None = None
    active: bool | None = None


def _check_events(events: Sequence[EventType]) -> None:
    if not events:
        raise InvalidInput(
            "Subscribe to at least one event type.",
            code="events_required",
            fields=[FieldError(("events",), "events_required", "at least one event type")],
        )


def _sorted_types(events: Sequence[EventType]) -> list[str]:
    return sorted({e.value for e in events})


async def _audit(
    rt: Runtime, s: AsyncSession, endpoint: WebhookEndpoint, action: str, actor: Actor
) -> None:
    meta = {"url": endpoint.url, "events": endpoint.events, "active": endpoint.active}
    event = AuditEvent(f"webhook_endpoint_{action}", "webhook_endpoint", endpoint.id, action, meta)
    await record(s, event, actor, rt.clock.now())


async def create_endpoint(
    rt: Runtime, draft: EndpointDraft, *, actor: Actor = SYSTEM
) -> WebhookEndpoint:
    """Register an endpoint (active) with a fresh secret; 422 if the URL is refused."""
    _check_events(draft.events)
    await check_url(rt.settings, draft.url)
    now = rt.clock.now()
    endpoint = WebhookEndpoint(
        id=new_id("whep"),
        url=draft.url,
        events=_sorted_types(draft.events),
        description=draft.description or None,
        active=True,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    async with rt.db.transaction() as s:
        s.add(endpoint)
        await s.flush()
        await _audit(rt, s, endpoint, "created", actor)
    return endpoint


async def _get(s: AsyncSession, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = None
    if is_valid_id(endpoint_id, "whep"):
        q = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        q = q.with_for_update() if lock else q
        endpoint = await s.scalar(q.execution_options(populate_existing=True))
    if endpoint is None:
        raise NotFound("No such webhook endpoint.", code="webhook_endpoint_not_found")
    return endpoint


async def get_endpoint(rt: Runtime, endpoint_id: str) -> WebhookEndpoint:
    """One endpoint (404 ``webhook_endpoint_not_found``)."""
    async with rt.db.transaction() as s:
        return await _get(s, endpoint_id)


async def list_endpoints(
    rt: Runtime, *, after: str | None = None, limit: int = 50
) -> tuple[list[WebhookEndpoint], str | None]:
    """Endpoints by id, ``limit`` at a time after the cursor ``after``."""
    q = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit + 1)
    if after:
        q = q.where(WebhookEndpoint.id > after)
    async with rt.db.transaction() as s:
        rows = list((await s.scalars(q)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


async def update_endpoint(
    rt: Runtime, endpoint_id: str, changes: EndpointChanges, *, actor: Actor = SYSTEM
) -> WebhookEndpoint:
    """Change the URL, event types, description or active flag (checked as on create)."""
    if changes.events is not None:
        _check_events(changes.events)
    if changes.url is not None:
        await check_url(rt.settings, changes.url)
    async with rt.db.transaction() as s:
        endpoint = await _get(s, endpoint_id, lock=True)
        if changes.url is not None:
            endpoint.url = changes.url
        if changes.events is not None:
            endpoint.events = _sorted_types(changes.events)
        if changes.description is not None:
            endpoint.description = changes.description or None
        if changes.active is not None:
            endpoint.active = changes.active
        endpoint.updated_at = rt.clock.now()
        await _audit(rt, s, endpoint, "updated", actor)
        return endpoint


async def delete_endpoint(rt: Runtime, endpoint_id: str, *, actor: Actor = SYSTEM) -> None:
    """Remove an endpoint and its deliveries (pending ones are never sent)."""
    async with rt.db.transaction() as s:
        endpoint = await _get(s, endpoint_id, lock=True)
        # Explicit, not by cascade: SQLite enforces foreign keys only when asked to.
        await s.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        await s.delete(endpoint)
        await s.flush()
        await _audit(rt, s, endpoint, "deleted", actor)  # last: the audit head locks last


async def rotate_secret(rt: Runtime, endpoint_id: str, *, actor: Actor = SYSTEM) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing too for the grace period
    (``webhook_secret_grace_hours``), so receivers switch without missing a delivery."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        endpoint = await _get(s, endpoint_id, lock=True)
        endpoint.previous_secret = endpoint.secret
        grace = timedelta(hours=rt.settings.webhook_secret_grace_hours)
        endpoint.previous_secret_expires_at = now + grace
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        await _audit(rt, s, endpoint, "secret_rotated", actor)
        return endpoint


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its grace."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        found.append(endpoint.previous_secret)
    return found


async def list_deliveries(
    rt: Runtime, endpoint_id: str, *, after: str | None = None, limit: int = 50
) -> tuple[list[WebhookDelivery], str | None]:
    """An endpoint's deliveries, newest first; the cursor is the last delivery's id."""
    async with rt.db.transaction() as s:
        await _get(s, endpoint_id)
        q = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if after is not None:
            anchor = await s.get(WebhookDelivery, after) if is_valid_id(after, "whdl") else None
            if anchor is None or anchor.endpoint_id != endpoint_id:
                raise InvalidInput(
                    "Unknown cursor: pass a next_cursor this listing gave.",
                    code="invalid_cursor",
                    fields=[FieldError(("query", "cursor"), "invalid_cursor", "unknown cursor")],
                )
            q = q.where(
                (WebhookDelivery.created_at < anchor.created_at)
                | (
                    (WebhookDelivery.created_at == anchor.created_at)
                    & (WebhookDelivery.id < anchor.id)
                )
            )
        order = (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        rows = list(await s.scalars(q.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
