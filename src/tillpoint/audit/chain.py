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
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, Text, bindparam, func, literal_column, select, update
from sqlalchemy import cast as sql_cast
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


def _log_binds() -> dict[str, Any]:
    """A typed bind parameter per ``audit_logs`` column (named ``a_<column>``)."""
    # ``created_at`` is the database's own clock (its server default).
    return {
        c.name: bindparam(f"a_{c.name}", type_=c.type) for c in _LOG.c if c.name != "created_at"
    }


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


def _build_pg_append_at_head(along: Any = None) -> Any:
    """PostgreSQL, one round trip for a unit of work's first append: lock the head, hash
    the row onto it (``sha256`` in SQL over ``before || seq || after``, see
    :func:`canonical_around_seq`), insert the row and move the head. Returns the new
    ``seq``, ``prev_hash`` and ``hash``; no row when the chain has no head yet.
    ``along``: a data-modifying statement run in the same round trip (as a ``WITH``)."""
    binds = _log_binds()
    next_seq = _HEAD.c.seq + literal_column("1")
    text_of = func.convert_to(
        _HEAD.c.hash
        + bindparam("before", type_=Text())
        + sql_cast(next_seq, Text())
        + bindparam("after", type_=Text()),
        literal_column("'UTF8'"),
    )
    head = (
        select(
            _HEAD.c.chain,
            next_seq.label("seq"),
            _HEAD.c.hash.label("prev_hash"),
            func.encode(func.sha256(text_of), literal_column("'hex'"), type_=Text()).label("hash"),
        )
        .where(_HEAD.c.chain == binds["chain"])
        .with_for_update()
        .cte("head")
    )
    taken = ("chain", "seq", "prev_hash", "hash")
    columns = [c for c in binds if c not in taken]
    appended = _LOG.insert().from_select(
        [*columns, *taken],
        select(*(binds[c] for c in columns), *(head.c[c] for c in taken)),
    )
    statement = (
        update(_HEAD)
        .where(_HEAD.c.chain == head.c.chain)
        .values(seq=head.c.seq, hash=head.c.hash)
        .returning(head.c.seq, head.c.prev_hash, head.c.hash)
        .add_cte(appended.cte("appended"))
    )
    return statement if along is None else statement.add_cte(along.cte("along"))


def _build_pg_append_after() -> Any:
    """PostgreSQL, a later append of the same unit of work in one round trip: move the
    head from where the last append left it (conditional UPDATE) and insert the row only
    if it moved."""
    binds = _log_binds()
    moved = (
        update(_HEAD)
        .where(
            _HEAD.c.chain == binds["chain"],
            _HEAD.c.seq == bindparam("left_seq"),
            _HEAD.c.hash == bindparam("left_hash"),
        )
        .values(seq=binds["seq"], hash=binds["hash"])
        .returning(_HEAD.c.chain)
        .cte("moved")
    )
    columns = list(binds)
    rows = select(*(binds[c] for c in columns)).select_from(moved)
    return _LOG.insert().from_select(columns, rows)


_PG_APPEND_AT_HEAD = _build_pg_append_at_head()
# Statements that ride along with a first append (see ``Along``), each combined once.
_PG_APPEND_ALONG: dict[Any, Any] = {}
_PG_APPEND_AFTER = _build_pg_append_after()
_INSERT_LOG = _LOG.insert().values(_log_binds())
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.chain == bindparam("a_chain"))
    .values(seq=bindparam("a_seq"), hash=bindparam("a_hash"))
)
_MOVE_LEFT_HEAD = _MOVE_HEAD.where(
    _HEAD.c.seq == bindparam("left_seq"), _HEAD.c.hash == bindparam("left_hash")
)
_PG_INSERT_AND_MOVE = _MOVE_HEAD.add_cte(_INSERT_LOG.cte("appended"))


async def _execute(s: AsyncSession, statement: Any, params: dict[str, Any]) -> Any:
    # Core on the session's connection: these statements need no ORM session machinery.
    return await (await s.connection()).execute(statement, params)


def _in_session_chain(s: AsyncSession, row: ChainedRow) -> ChainedRow:
    """``row`` in the chain this unit of work appends to (picked from its entity if none)."""
    chain = s.info.get(SESSION_CHAIN_KEY)
    row.chain = preferred_chain(row.entity_id, chain_count(s)) if chain is None else chain
    return row


async def _advance_known_head(s: AsyncSession, row: ChainedRow, known: Head, pg: bool) -> bool:
    """A later append of the same unit of work: chain ``row`` to the head its last append
    left and write it, moving the head with a conditional UPDATE instead of reading it
    again (one round trip on PostgreSQL). False (nothing written) if the head is not as
    left (a savepoint rolled that append back): the caller then locks and reads it."""
    row.chain, row.seq, row.prev_hash = known.chain, known.seq + 1, known.hash
    row.hash = row_hash(known.hash, row)
    params = {**_log_params(row), "left_seq": known.seq, "left_hash": known.hash}
    if pg:
        written = await _execute(s, _PG_APPEND_AFTER, params)
        return bool(getattr(written, "rowcount", 0) == 1)
    moved = await _execute(s, _MOVE_LEFT_HEAD, params)
    if getattr(moved, "rowcount", 0) != 1:
        return False
    await _execute(s, _INSERT_LOG, params)
    return True


@dataclass(frozen=True, slots=True)
class Along:
    """A write of the caller's to send with the audit row: a data-modifying Core statement
    built once (module level; it keys a cache of combined statements) and its parameters,
    named apart from the audit ones (which start ``a_``). On PostgreSQL a unit of work's
    first append runs it in the same round trip; otherwise it runs just before the row."""

    statement: Any
    params: dict[str, Any]


async def _pg_append_at_head(s: AsyncSession, row: ChainedRow, along: Along | None) -> bool:
    """The first append on PostgreSQL, in one round trip; False (no row written, though
    ``along`` ran: PostgreSQL runs a data-modifying WITH regardless) when the chain has no
    head row yet. The hash PostgreSQL computed is checked here."""
    before, after = canonical_around_seq(row)
    params = {**_log_params(row), "before": f"\n{before}", "after": after}
    statement = _PG_APPEND_AT_HEAD
    if along is not None:
        statement = _PG_APPEND_ALONG.get(along.statement)
        if statement is None:
            statement = _build_pg_append_at_head(along.statement)
            _PG_APPEND_ALONG[along.statement] = statement
        params.update(along.params)
    found = (await _execute(s, statement, params)).first()
    if found is None:
        return False
    row.seq, row.prev_hash, row.hash = found[0], found[1], found[2]
    if row.hash != _hash_of(row.prev_hash, f"{before}{row.seq}{after}"):
        raise RuntimeError(f"audit chain {row.chain}: the database hashed a row differently")
    return True


async def _append_alone(s: AsyncSession, row: ChainedRow, known: Any, pg: bool) -> None:
    if isinstance(known, Head) and await _advance_known_head(s, row, known, pg):
        written = True
    else:
        written = pg and await _pg_append_at_head(s, _in_session_chain(s, row), None)
    if not written:
        head = await session_head(s, row.entity_id)
        row.chain, row.seq, row.prev_hash = head.chain, head.seq + 1, head.hash
        row.hash = row_hash(head.hash, row)
        params = _log_params(row)
        if pg:
            # One round trip: PostgreSQL runs a data-modifying WITH exactly once, read or not.
            await _execute(s, _PG_INSERT_AND_MOVE, params)
        else:
            await _execute(s, _INSERT_LOG, params)
            await _execute(s, _MOVE_HEAD, params)


async def append(s: AsyncSession, row: ChainedRow, along: Along | None = None) -> ChainedRow:
    """Chain ``row`` (its content set, ``chain``/``seq``/hashes not) and write it (with
    ``along``, the caller's write that goes with it)."""
    pg = s.get_bind().dialect.name == "postgresql"
    known = s.info.get(LAST_HEAD_KEY)
    sent = pg and along is not None and not isinstance(known, Head)
    if not (sent and await _pg_append_at_head(s, _in_session_chain(s, row), along)):
        if along is not None and not sent:
            await _execute(s, along.statement, along.params)
        await _append_alone(s, row, known, pg)
    s.info[SESSION_CHAIN_KEY] = row.chain
    s.info[LAST_HEAD_KEY] = Head(row.chain, row.seq, row.hash)
    return row
