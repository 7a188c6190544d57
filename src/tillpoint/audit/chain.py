"""The hash chains: how a row's hash is computed, and how an append takes a chain head.

``hash = sha256(prev_hash || "\\n" || canonical JSON of the row's content)``. The
canonical form sorts keys and writes timestamps as UTC ISO-8601 with microseconds,
so a row hashes the same after a round trip through SQLite or PostgreSQL. It names the
row's ``chain`` only for chains above 0: rows written before the log was split (all in
chain 0) keep their stored hashes, and moving a row to another chain still breaks it.

Appends use Core statements (no identity map, no unit-of-work flush): one
``SELECT ... FOR UPDATE`` of the head, one ``INSERT`` of the row, one ``UPDATE`` of the head.
A later append in the same unit of work skips the SELECT: it moves the head from where the
last append left it with ``UPDATE ... WHERE seq = <left> AND hash = <left>`` (before its
``INSERT``), which also proves no savepoint rolled that append back (else it reads the head
as the first append did).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.models import GENESIS_HASH, AuditChainHead, AuditLog
from tillpoint.config import Settings

DEFAULT_CHAINS: int = Settings.model_fields["audit_chains"].default
# Keys in ``AsyncSession.info``: the chain count (set by the Runtime's session factory)
# and the chain this session's unit of work appends to (set by its first append).
CHAINS_KEY = "audit_chains"
SESSION_CHAIN_KEY = "audit_chain"
# ... and the head its last append left (the head's row stays locked until commit).
LAST_HEAD_KEY = "audit_last_head"

_HEAD = cast(Table, AuditChainHead.__table__)
_LOG = cast(Table, AuditLog.__table__)


class Hashed(Protocol):
    """What the canonical form reads: an ``AuditLog`` row (ORM or not)."""

    chain: int
    seq: int
    id: str
    event_type: str
    entity_type: str
    entity_id: str
    user_id: str | None
    session_id: str | None
    action: str
    meta: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    timestamp: datetime


def canonical(row: Hashed) -> str:
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
    if row.chain:
        payload["chain"] = row.chain
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: Hashed) -> str:
    """The hash a row must carry given the hash before it in its chain."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()


def chain_count(s: AsyncSession) -> int:
    """K, as the session factory was configured (the default when it was not)."""
    return int(s.info.get(CHAINS_KEY, DEFAULT_CHAINS))


def preferred_chain(entity_id: str, chains: int) -> int:
    """A stable chain for an entity (crc32, not ``hash()``: the same in every process),
    so one cart's or checkout's events usually stay in one chain."""
    return zlib.crc32(entity_id.encode()) % chains


@dataclass(frozen=True, slots=True)
class Head:
    chain: int
    seq: int
    hash: str


def _select_head(chain: int) -> Any:
    return select(_HEAD.c.chain, _HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.chain == chain)


async def lock_head(s: AsyncSession, chain: int) -> Head:
    """Chain ``chain``'s head, locked until ``s`` commits (created on first use)."""
    row = (await s.execute(_select_head(chain).with_for_update())).first()
    if row is None:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        await s.execute(
            insert(AuditChainHead)
            .values(chain=chain, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        row = (await s.execute(_select_head(chain).with_for_update())).one()
    return Head(row.chain, row.seq, row.hash)


async def session_head(s: AsyncSession, entity_id: str) -> Head:
    """The head this unit of work appends to, locked. The first append picks the chain
    (from ``entity_id``) and remembers it in ``s.info``: later appends in the same
    transaction reuse it, so one transaction never holds two heads (no head-vs-head
    deadlock between two transactions). A busy preferred head is waited for: falling
    back to a free one (``SKIP LOCKED``) measured no better (bench/audit_append.py)."""
    chain = s.info.get(SESSION_CHAIN_KEY)
    if chain is None:
        chain = preferred_chain(entity_id, chain_count(s))
    head = await lock_head(s, chain)
    s.info[SESSION_CHAIN_KEY] = chain
    return head


async def _advance_known_head(s: AsyncSession, row: AuditLog) -> bool:
    """A later append of the same unit of work: chain ``row`` to the head its last append
    left, moving the head with one conditional UPDATE instead of reading it again. False
    (nothing written) if the head is not as left (a savepoint rolled that append back):
    the caller then locks and reads it."""
    known = s.info.get(LAST_HEAD_KEY)
    if not isinstance(known, Head):
        return False
    row.chain, row.seq, row.prev_hash = known.chain, known.seq + 1, known.hash
    row.hash = row_hash(known.hash, row)
    moved = await s.execute(
        update(_HEAD)
        .where(_HEAD.c.chain == known.chain, _HEAD.c.seq == known.seq, _HEAD.c.hash == known.hash)
        .values(seq=row.seq, hash=row.hash)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


def _insert_of(row: AuditLog) -> Insert:
    return _LOG.insert().values(
        id=row.id,
        event_type=row.event_type,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        user_id=row.user_id,
        session_id=row.session_id,
        action=row.action,
        metadata=row.meta,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        timestamp=row.timestamp,
        chain=row.chain,
        seq=row.seq,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


async def append(s: AsyncSession, row: AuditLog) -> AuditLog:
    """Chain ``row`` (its content set, ``chain``/``seq``/hashes not) and write it."""
    if await _advance_known_head(s, row):
        await s.execute(_insert_of(row))
    else:
        head = await session_head(s, row.entity_id)
        row.chain, row.seq, row.prev_hash = head.chain, head.seq + 1, head.hash
        row.hash = row_hash(head.hash, row)
        move_head = (
            update(_HEAD).where(_HEAD.c.chain == head.chain).values(seq=row.seq, hash=row.hash)
        )
        if s.get_bind().dialect.name == "postgresql":
            # One round trip: PostgreSQL runs a data-modifying WITH exactly once, read or not.
            await s.execute(move_head.add_cte(_insert_of(row).cte("appended")))
        else:
            await s.execute(_insert_of(row))
            await s.execute(move_head)
    s.info[LAST_HEAD_KEY] = Head(row.chain, row.seq, row.hash)
    return row
