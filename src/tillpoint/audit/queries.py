"""The audit trail's SQL: the seed's ``queryLogs`` (filtered, newest first, a page at a
time, keyset cursor), the hash chain's writes and the verifier's snapshot.

Where PostgreSQL and SQLite differ, the choice is made here (the chain's writes: one
statement on PostgreSQL, which hashes a first append in SQL; head read, hash in Python and
two statements on SQLite), so ``chain.py`` and ``verify.py`` carry no dialect branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Text,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.models import GENESIS_HASH, AuditChainHead, AuditLog
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


# --- the hash chain's writes (audit/chain.py) ---------------------------------------------

_HEAD = cast(Table, AuditChainHead.__table__)
_LOG = cast(Table, AuditLog.__table__)
# A write of the caller's that goes with an audit row: a data-modifying Core statement
# built once (it keys a cache of combined statements) and its parameters.
AlongWrite = tuple[Any, dict[str, Any]]


async def execute_core(s: AsyncSession, statement: Any, params: dict[str, Any]) -> Any:
    # Core on the session's connection: these statements need no ORM session machinery.
    return await (await s.connection()).execute(statement, params)


def _log_binds() -> dict[str, Any]:
    """A typed bind parameter per ``audit_logs`` column (named ``a_<column>``)."""
    # ``created_at`` is the database's own clock (its server default).
    return {
        c.name: bindparam(f"a_{c.name}", type_=c.type) for c in _LOG.c if c.name != "created_at"
    }


def _build_pg_append_at_head(along: Any = None) -> Any:
    """PostgreSQL, one round trip for a unit of work's first append: lock the head, hash
    the row onto it (``sha256`` in SQL over ``before || seq || after``, see
    ``chain.canonical_around_seq``), insert the row and move the head. Returns the new
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
# Statements that ride along with a first append, each combined once.
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


def select_head(chain: int) -> Any:
    return select(_HEAD.c.chain, _HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.chain == chain)


class ChainWrites:
    """The chain's writes in SQL both databases run (SQLite's): the head is read and the
    hash computed in Python; a write is two statements (``BEGIN IMMEDIATE`` already runs
    writers one at a time)."""

    async def insert_head_if_missing(self, s: AsyncSession, chain: int) -> None:
        """Chain ``chain``'s head at the genesis, unless a head exists."""
        await s.execute(
            sqlite_insert(AuditChainHead)
            .values(chain=chain, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["chain"])
        )

    async def append_at_head(
        self, s: AsyncSession, params: Callable[[], dict[str, Any]], along: AlongWrite | None
    ) -> Any:
        """A first append without reading the head first: not here (None, nothing
        written), but ``along`` runs."""
        if along is not None:
            await execute_core(s, *along)
        return None

    async def append_after(self, s: AsyncSession, params: dict[str, Any]) -> bool:
        """Move the head from where the last append left it, then insert the row; False
        (nothing written) if the head is not as left."""
        moved = await execute_core(s, _MOVE_LEFT_HEAD, params)
        if getattr(moved, "rowcount", 0) != 1:
            return False
        await execute_core(s, _INSERT_LOG, params)
        return True

    async def insert_and_move_head(self, s: AsyncSession, params: dict[str, Any]) -> None:
        """Insert the row and move the (locked) head to it."""
        await execute_core(s, _INSERT_LOG, params)
        await execute_core(s, _MOVE_HEAD, params)


class PostgresChainWrites(ChainWrites):
    """PostgreSQL: each write is one statement, and a first append hashes in SQL."""

    async def insert_head_if_missing(self, s: AsyncSession, chain: int) -> None:
        await s.execute(
            pg_insert(AuditChainHead)
            .values(chain=chain, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["chain"])
        )

    async def append_at_head(
        self, s: AsyncSession, params: Callable[[], dict[str, Any]], along: AlongWrite | None
    ) -> Any:
        """Lock the head, hash the row onto it, insert it and move the head, with ``along``,
        in one round trip: the new (``seq``, ``prev_hash``, ``hash``), or None when the
        chain has no head yet (``along`` ran: PostgreSQL runs a data-modifying WITH
        regardless)."""
        values = params()
        statement = _PG_APPEND_AT_HEAD
        if along is not None:
            statement = _PG_APPEND_ALONG.get(along[0])
            if statement is None:
                statement = _build_pg_append_at_head(along[0])
                _PG_APPEND_ALONG[along[0]] = statement
            values.update(along[1])
        return (await execute_core(s, statement, values)).first()

    async def append_after(self, s: AsyncSession, params: dict[str, Any]) -> bool:
        written = await execute_core(s, _PG_APPEND_AFTER, params)
        return bool(getattr(written, "rowcount", 0) == 1)

    async def insert_and_move_head(self, s: AsyncSession, params: dict[str, Any]) -> None:
        # One round trip: PostgreSQL runs a data-modifying WITH exactly once, read or not.
        await execute_core(s, _PG_INSERT_AND_MOVE, params)


_SQLITE_WRITES = ChainWrites()
_PG_WRITES = PostgresChainWrites()


def chain_writes(s: AsyncSession) -> ChainWrites:
    """The chain's writes for ``s``'s database."""
    return _PG_WRITES if s.get_bind().dialect.name == "postgresql" else _SQLITE_WRITES


async def read_one_snapshot(s: AsyncSession) -> None:
    """Make ``s``'s transaction read one snapshot throughout: REPEATABLE READ on
    PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already is one)."""
    if s.get_bind().dialect.name == "postgresql":
        await s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
