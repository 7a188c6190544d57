"""The seed's ``queryLogs``: filtered, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from tillpoint.audit.models import AuditLog
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class AuditLogFilters:
    """Every filter is optional; given ones all apply (AND). Times are inclusive/exclusive:
    ``since <= timestamp < until``."""

    event_types: Sequence[str] = ()
    entity_type: str | None = None
    entity_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(filters: AuditLogFilters) -> Select[AuditLog]:
    query = select(AuditLog)
    if filters.event_types:
        query = query.where(AuditLog.event_type.in_(list(filters.event_types)))
    if filters.entity_type is not None:
        query = query.where(AuditLog.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        query = query.where(AuditLog.entity_id == filters.entity_id)
    if filters.user_id is not None:
        query = query.where(AuditLog.user_id == filters.user_id)
    if filters.session_id is not None:
        query = query.where(AuditLog.session_id == filters.session_id)
    if filters.since is not None:
        query = query.where(AuditLog.timestamp >= filters.since)
    if filters.until is not None:
        query = query.where(AuditLog.timestamp < filters.until)
    return query


async def query_logs(
    rt: Runtime, filters: AuditLogFilters, *, limit: int = 50, before_seq: int | None = None
) -> tuple[list[AuditLog], int | None]:
    """One page of matching rows, newest (highest ``seq``) first, and the cursor of the
    next page (the last row's ``seq``), or None when this is the last page."""
    query = _filtered(filters)
    if before_seq is not None:
        query = query.where(AuditLog.seq < before_seq)
    query = query.order_by(AuditLog.seq.desc()).limit(limit + 1)
    async with rt.db.transaction() as s:
        rows = list((await s.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)
