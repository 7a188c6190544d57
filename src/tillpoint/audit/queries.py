"""The seed's ``queryLogs``: filtered, newest first, a page at a time (keyset cursor)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, and_, or_, select

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


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A position in the listing order (timestamp, then chain, then seq); pages continue
    after it. Written as ``<µs since the epoch>.<chain>.<seq>``."""

    timestamp: datetime
    chain: int
    seq: int

    @classmethod
    def of(cls, row: AuditLog) -> Cursor:
        return cls(row.timestamp, row.chain, row.seq)

    def __str__(self) -> str:
        micros = (self.timestamp - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.chain}.{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor ``text`` names; ValueError when it is not one (the API's pattern
        ``CURSOR_PATTERN`` already bounds every part)."""
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise ValueError(f"not an audit log cursor: {text!r}")
        micros, chain, seq = (int(part) for part in text.split("."))
        return cls(_EPOCH + timedelta(microseconds=micros), chain, seq)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bounded so every value parses into a datetime and a BIGINT (16 digits of µs: year 2286).
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9]{1,9}\.[0-9]{1,18}$"


async def query_logs(
    rt: Runtime, filters: AuditLogFilters, *, limit: int = 50, before: Cursor | None = None
) -> tuple[list[AuditLog], Cursor | None]:
    """One page of matching rows, newest first (timestamp, then chain and seq, descending),
    and the cursor of the next page (the last row's position), or None on the last page."""
    query = _filtered(filters)
    if before is not None:
        query = query.where(
            or_(
                AuditLog.timestamp < before.timestamp,
                and_(
                    AuditLog.timestamp == before.timestamp,
                    or_(
                        AuditLog.chain < before.chain,
                        and_(AuditLog.chain == before.chain, AuditLog.seq < before.seq),
                    ),
                ),
            )
        )
    query = query.order_by(
        AuditLog.timestamp.desc(), AuditLog.chain.desc(), AuditLog.seq.desc()
    ).limit(limit + 1)
    async with rt.db.transaction() as s:
        rows = list((await s.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (Cursor.of(rows[-1]) if more and rows else None)
