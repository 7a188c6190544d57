"""``GET /api/admin/audit-logs``: the audit trail, filtered and paged (admin role)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tillpoint.audit.models import AuditLog
from tillpoint.audit.queries import CURSOR_PATTERN, AuditLogFilters, Cursor, query_logs
from tillpoint.audit.verify import verify_chain
from tillpoint.web.deps import AdminDep, RuntimeDep
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import IsoAwareDateTime, error_responses
from tillpoint.web.screening import OPAQUE_TOKEN

router = APIRouter(
    prefix="/api/admin/audit-logs", tags=["admin", "audit"], route_class=TypedPathRoute
)

Name = Annotated[str | None, Query(max_length=80, pattern=r"^[A-Za-z0-9_.:@/-]+$")]


class AuditLogOut(BaseModel):
    id: str
    chain: int
    seq: int
    event_type: str
    entity_type: str
    entity_id: str
    action: str
    user_id: str | None
    session_id: str | None
    metadata: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    timestamp: datetime
    prev_hash: str
    hash: str


class AuditLogPage(BaseModel):
    items: list[AuditLogOut]
    next_cursor: str | None


class ChainHeadOut(BaseModel):
    chain: int
    seq: int
    hash: str


class ChainReportOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    chains: list[ChainHeadOut]
    problems: list[str]


def _out(row: AuditLog) -> AuditLogOut:
    return AuditLogOut(
        id=row.id,
        chain=row.chain,
        seq=row.seq,
        event_type=row.event_type,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        action=row.action,
        user_id=row.user_id,
        session_id=row.session_id,
        metadata=dict(row.meta or {}),
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        timestamp=row.timestamp,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@router.get("", response_model=AuditLogPage, responses=error_responses(401, 403, 422))
async def list_audit_logs(
    rt: RuntimeDep,
    _admin: AdminDep,
    event_type: Annotated[
        list[Annotated[str, Query(max_length=64, pattern=r"^[a-z_]+$")]] | None,
        Query(max_length=20, description="Repeat to match any of several event types."),
    ] = None,
    entity_type: Name = None,
    entity_id: Name = None,
    user_id: Name = None,
    session_id: Name = None,
    since: Annotated[IsoAwareDateTime | None, Query(description="Inclusive, with offset.")] = None,
    until: Annotated[IsoAwareDateTime | None, Query(description="Exclusive, with offset.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=45, pattern=CURSOR_PATTERN, json_schema_extra=OPAQUE_TOKEN)
    ] = None,
) -> AuditLogPage:
    """Audit rows matching every given filter, newest first; ``next_cursor`` continues."""
    filters = AuditLogFilters(
        event_types=tuple(event_type or ()),
        entity_type=entity_type,
        entity_id=entity_id,
        user_id=user_id,
        session_id=session_id,
        since=since,
        until=until,
    )
    rows, nxt = await query_logs(
        rt, filters, limit=limit, before=Cursor.parse(cursor) if cursor else None
    )
    return AuditLogPage(
        items=[_out(r) for r in rows], next_cursor=str(nxt) if nxt is not None else None
    )


@router.get("/verify", response_model=ChainReportOut, responses=error_responses(401, 403))
async def verify_audit_chain(rt: RuntimeDep, _admin: AdminDep) -> ChainReportOut:
    """Walk every hash chain (as ``tillpoint audit verify`` does) and report breaks."""
    report = await verify_chain(rt)
    return ChainReportOut(
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        chains=[ChainHeadOut(chain=h.chain, seq=h.seq, hash=h.hash) for h in report.chains],
        problems=report.problems,
    )
