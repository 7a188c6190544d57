"""The hash chains: how a row's hash is computed, and how an append takes a chain head.

``hash = sha256(prev_hash || "\\n" || canonical JSON of the row's content)``. The
canonical form sorts keys and writes timestamps as UTC ISO-8601 with microseconds,
so a row hashes the same after a round trip through SQLite or PostgreSQL. It names the
row's ``chain`` only for chains above 0: rows written before the log was split (all in
chain 0) keep their stored hashes, and moving a row to another chain still breaks it.

Appends use prebuilt Core statements (no identity map, no unit-of-work flush): one
``SELECT ... FOR UPDATE`` of the head, one ``INSERT`` of the row, one ``UPDATE`` of the head.
On PostgreSQL all three are one statement: the head is locked in a ``WITH`` and the row's
hash computed there by ``sha256()`` over the canonical text, split around the ``seq`` the
head gives (checked again in Python). A later append in the same unit of work skips the
SELECT: it moves the head from where the last append left it with ``UPDATE ... WHERE seq =
<left> AND hash = <left>`` (before its ``INSERT``; one statement on PostgreSQL), which also
proves no savepoint rolled that append back (else it reads the head as the first append did).
The statements, and which database gets which, are in ``queries.py``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.queries import ChainWrites, chain_writes, execute_core, select_head
from tillpoint.config import Settings

DEFAULT_CHAINS: int = Settings.model_fields["audit_chains"].default
# Keys in ``AsyncSession.info``: the chain count (set by the Runtime's session factory)
# and the chain this session's unit of work appends to (set by its first append).
CHAINS_KEY = "audit_chains"
SESSION_CHAIN_KEY = "audit_chain"
# ... and the head its last append left (the head's row stays locked until commit).
LAST_HEAD_KEY = "audit_last_head"


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


@dataclass(slots=True)
class ChainedRow:
    """An audit row to append: its content, then where the append put it (no ORM object:
    the row is written with Core statements)."""

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
    chain: int = 0
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""


def _content(row: Hashed) -> dict[str, Any]:
    """The hashed fields but ``seq`` (which an append may learn only from the head)."""
    payload: dict[str, Any] = {
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
    return payload


def canonical(row: Hashed) -> str:
    """The row's hashed content as one stable JSON string."""
    payload = _content(row)
    payload["seq"] = row.seq
    return _dumps(payload)


def canonical_around_seq(row: Hashed) -> tuple[str, str]:
    """``canonical(row)`` split where its ``seq`` number goes: ``before + str(seq) + after``.

    ``seq`` is a top-level key and never the first or last one sorted, so the keys before
    it and those after it are each one sorted object: written apart, their braces joined,
    they read as ``json.dumps(sort_keys=True)`` writes the whole. PostgreSQL can then hash
    a row whose ``seq`` it reads from the head in the same statement."""
    payload = _content(row)
    head = {k: v for k, v in payload.items() if k < "seq"}
    tail = {k: v for k, v in payload.items() if k > "seq"}
    before = _dumps(head)[:-1] + ',"seq":'
    after = "," + _dumps(tail)[1:]
    return before, after


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash_of(prev_hash: str, canonical_text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical_text}".encode()).hexdigest()


def row_hash(prev_hash: str, row: Hashed) -> str:
    """The hash a row must carry given the hash before it in its chain."""
    return _hash_of(prev_hash, canonical(row))


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


async def lock_head(s: AsyncSession, chain: int) -> Head:
    """Chain ``chain``'s head, locked until ``s`` commits (created on first use)."""
    row = (await s.execute(select_head(chain).with_for_update())).first()
    if row is None:
        await chain_writes(s).insert_head_if_missing(s, chain)
        row = (await s.execute(select_head(chain).with_for_update())).one()
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


def _log_params(row: ChainedRow) -> dict[str, Any]:
    """``row``'s values for the statements below (chain, seq and hashes included)."""
    return {
        "a_id": row.id,
        "a_event_type": row.event_type,
        "a_entity_type": row.entity_type,
        "a_entity_id": row.entity_id,
        "a_user_id": row.user_id,
        "a_session_id": row.session_id,
        "a_action": row.action,
        "a_metadata": row.meta,
        "a_ip_address": row.ip_address,
        "a_user_agent": row.user_agent,
        "a_timestamp": row.timestamp,
        "a_chain": row.chain,
        "a_seq": row.seq,
        "a_prev_hash": row.prev_hash,
        "a_hash": row.hash,
    }


def _in_session_chain(s: AsyncSession, row: ChainedRow) -> ChainedRow:
    """``row`` in the chain this unit of work appends to (picked from its entity if none)."""
    chain = s.info.get(SESSION_CHAIN_KEY)
    row.chain = preferred_chain(row.entity_id, chain_count(s)) if chain is None else chain
    return row


async def _advance_known_head(
    s: AsyncSession, writes: ChainWrites, row: ChainedRow, known: Head
) -> bool:
    """A later append of the same unit of work: chain ``row`` to the head its last append
    left and write it, moving the head with a conditional UPDATE instead of reading it
    again (one round trip on PostgreSQL). False (nothing written) if the head is not as
    left (a savepoint rolled that append back): the caller then locks and reads it."""
    row.chain, row.seq, row.prev_hash = known.chain, known.seq + 1, known.hash
    row.hash = row_hash(known.hash, row)
    params = {**_log_params(row), "left_seq": known.seq, "left_hash": known.hash}
    return await writes.append_after(s, params)


@dataclass(frozen=True, slots=True)
class Along:
    """A write of the caller's to send with the audit row: a data-modifying Core statement
    built once (module level; it keys a cache of combined statements) and its parameters,
    named apart from the audit ones (which start ``a_``). On PostgreSQL a unit of work's
    first append runs it in the same round trip; otherwise it runs just before the row."""

    statement: Any
    params: dict[str, Any]


async def _append_at_head(
    s: AsyncSession, writes: ChainWrites, row: ChainedRow, along: Along | None
) -> bool:
    """A first append without reading the head first (PostgreSQL: in one round trip, the
    hash computed in SQL and checked here); False (no row written) where the database does
    not, or when the chain has no head row yet. ``along`` runs either way."""
    before, after = "", ""

    def params() -> dict[str, Any]:
        nonlocal before, after
        before, after = canonical_around_seq(row)
        return {**_log_params(row), "before": f"\n{before}", "after": after}

    sent = None if along is None else (along.statement, along.params)
    found = await writes.append_at_head(s, params, sent)
    if found is None:
        return False
    row.seq, row.prev_hash, row.hash = found[0], found[1], found[2]
    if row.hash != _hash_of(row.prev_hash, f"{before}{row.seq}{after}"):
        raise RuntimeError(f"audit chain {row.chain}: the database hashed a row differently")
    return True


async def _append_at_locked_head(s: AsyncSession, writes: ChainWrites, row: ChainedRow) -> None:
    head = await session_head(s, row.entity_id)
    row.chain, row.seq, row.prev_hash = head.chain, head.seq + 1, head.hash
    row.hash = row_hash(head.hash, row)
    await writes.insert_and_move_head(s, _log_params(row))


async def append(s: AsyncSession, row: ChainedRow, along: Along | None = None) -> ChainedRow:
    """Chain ``row`` (its content set, ``chain``/``seq``/hashes not) and write it (with
    ``along``, the caller's write that goes with it).

    A later append of the unit of work moves the head its last one left; a first one
    tries the head without reading it (with ``along``, then once more alone if the chain
    had no head row); failing those, it locks and reads the head."""
    writes = chain_writes(s)
    known = s.info.get(LAST_HEAD_KEY)
    if isinstance(known, Head):
        if along is not None:
            await execute_core(s, along.statement, along.params)
        written = await _advance_known_head(s, writes, row, known) or await _append_at_head(
            s, writes, _in_session_chain(s, row), None
        )
    else:
        written = await _append_at_head(s, writes, _in_session_chain(s, row), along)
        if not written and along is not None:
            written = await _append_at_head(s, writes, _in_session_chain(s, row), None)
    if not written:
        await _append_at_locked_head(s, writes, row)
    s.info[SESSION_CHAIN_KEY] = row.chain
    s.info[LAST_HEAD_KEY] = Head(row.chain, row.seq, row.hash)
    return row
