"""Database engine, the declarative base, and the unit of work.

One transaction per use case: ``async with db.transaction() as s: ...`` commits on
success and rolls back on any exception. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` so writers queue on the file lock instead of failing midway;
on PostgreSQL we lock rows explicitly where order matters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger(__name__)
_AFTER_COMMIT = "tillpoint.after_commit"
T = TypeVar("T")


def after_commit(s: AsyncSession, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` once the unit of work ``s`` (from :meth:`Database.transaction`) has
    committed, before the ``async with`` block returns; dropped if it rolls back. For
    telling caches about committed changes: ``work`` should not raise (it is logged)."""
    s.info.setdefault(_AFTER_COMMIT, []).append(work)


async def savepoint(s: AsyncSession, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` inside a SAVEPOINT of the caller's unit of work ``s``: if it raises,
    only what ``work`` did is rolled back and ``s`` stays usable. The unit of work's owner
    (whoever opened :meth:`Database.transaction`) needs none: its rollback covers all."""
    try:
        async with s.begin_nested():
            return await work
    finally:
        work.close()  # never awaited if the SAVEPOINT failed: no "never awaited" warning


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level so SQLAlchemy's "begin" hook below owns BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling, but only for connections that sat idle.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout, i.e. on every
    transaction of every request. A connection handed back a moment ago is almost
    certainly alive, and one the server closed is usually already marked closed by the
    driver, so only a connection idle longer than ``idle_seconds`` is pinged; a dead one
    is replaced before the request sees it (the pool retries on DisconnectionError).
    """

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_conn, "_connection", None)
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("connection closed by the server")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            dbapi_conn.ping()
        except Exception as error:  # any failure means: do not hand this connection out
            raise exc.DisconnectionError("idle connection failed its ping") from error

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


def make_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, ping_idle_seconds: float = 1.0
) -> AsyncEngine:
    """Create the async engine for ``url`` with the per-backend settings we rely on.

    Statement parameters are hidden from error messages and SQL logging: they carry the
    shoppers' e-mails, names and addresses, and a failed statement's error is logged."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, connect_args={"timeout": 30}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(
        url, echo=echo, hide_parameters=True, pool_size=pool_size, max_overflow=pool_size
    )
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


class Database:
    """The engine and session factory one app instance uses."""

    def __init__(self, url: str, *, pool_size: int = 10, ping_idle_seconds: float = 1.0) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, ping_idle_seconds=ping_idle_seconds)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(self._autocommit, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit if the block succeeds, roll back if it raises; then
        the work queued with :func:`after_commit`."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            for work in session.info.pop(_AFTER_COMMIT, ()):
                try:
                    await work()
                except Exception:  # committed already: the answer must not become an error
                    log.exception("work after commit failed")

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for work that is one statement (a lone read, one UPDATE): on
        PostgreSQL without BEGIN and COMMIT, two round trips and an ORM session fewer than
        ``transaction``; on SQLite an ordinary ``BEGIN IMMEDIATE`` transaction."""
        if not self.is_postgres:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._autocommit.connect() as conn:
            yield conn

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: on PostgreSQL without BEGIN and COMMIT (two round trips
        fewer; under READ COMMITTED each statement takes its own snapshot either way), on
        SQLite an ordinary transaction. Never write through it: nothing is committed."""
        if not self.is_postgres:
            async with self.transaction() as session:
                yield session
            return
        async with self._read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
