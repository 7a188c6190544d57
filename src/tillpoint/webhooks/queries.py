"""The webhooks' statement that differs between PostgreSQL and SQLite: claiming due
deliveries with ``SKIP LOCKED`` where there are row locks, so several instances deliver
at once (SQLite's single writer needs none)."""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.webhooks.models import WebhookDelivery


def claim_due_deliveries(
    s: AsyncSession, query: Select[WebhookDelivery]
) -> Select[WebhookDelivery]:
    """The SELECT of due deliveries, claiming its rows: ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL."""
    if s.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
