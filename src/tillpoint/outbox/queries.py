"""The outbox's statement that differs between PostgreSQL and SQLite.

Delivery claims its rows with ``SKIP LOCKED`` where there are row locks (PostgreSQL), so
several instances deliver at once; SQLite's single writer needs none. The choice is made
here, so the service carries no dialect branch.
"""

from __future__ import annotations

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.outbox.models import OutboxMessage


def claim_due_messages(s: AsyncSession, query: Select[OutboxMessage]) -> Select[OutboxMessage]:
    """The SELECT of due messages, claiming its rows: ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL."""
    if s.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
