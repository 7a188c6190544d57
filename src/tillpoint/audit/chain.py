"""The hash chain: how a row's hash is computed, and how appends take the chain head.

``hash = sha256(prev_hash || "\\n" || canonical JSON of the row's content)``. The
canonical form sorts keys and writes timestamps as UTC ISO-8601 with microseconds,
so a row hashes the same after a round trip through SQLite or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.models import GENESIS_HASH, AuditChainHead, AuditLog

HEAD_ID = 1


def canonical(row: AuditLog) -> str:
    """The row's hashed content as one stable JSON string."""
    payload: dict[str, Any] = {
        "seq": row.seq,
        "id": row.id,
        "event_type": row.event_type,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "user_id": row.user_id,
        "session_id": row.session_id,
        "action": row.action,
        "metadata": row.meta,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "timestamp": row.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: AuditLog) -> str:
    """The hash a row must carry given the hash before it."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()


async def lock_head(s: AsyncSession) -> AuditChainHead:
    """The chain head, locked until ``s`` commits (created on first use)."""
    head = await s.get(AuditChainHead, HEAD_ID, with_for_update=True)
    if head is not None:
        return head
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await s.execute(
        insert(AuditChainHead)
        .values(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    head = (
        await s.scalars(
            select(AuditChainHead)
            .where(AuditChainHead.id == HEAD_ID)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return head
