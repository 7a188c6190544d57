"""What this machine can do at best with our stack: a do-nothing shop with a purchase's shape.

``tillpoint bench floor --port 8001 --workers 2 [--shape purchase|http]`` serves a bare
FastAPI app with uvicorn exactly as ``tillpoint serve`` does (same worker count, httptools,
uvloop), and ``tillpoint bench --flow floor --url http://127.0.0.1:8001 --no-verify`` drives
it with the same load generator. A floor "purchase" is the real one's requests in order
(session, product list and page, three cart adds, cart read, start checkout, six checkout
events, shipping options, CONFIRM_ORDER, payment confirm, one webhook) with the statements
each sent at the commit it was measured on (``tillpoint bench queries --flow checkout``),
every one a primary-key read or update of a real table, one transaction per request:
on asyncpg itself (``--driver asyncpg``), through SQLAlchemy Core (``sqlalchemy``) or in an
ORM ``AsyncSession`` (``session``). ``--shape http`` sends no SQL at all.

So its checkouts per second are the ceiling for this request and statement count on this
machine with uvicorn, FastAPI, asyncpg and the aiohttp load generator: the gap between it
and the real shop is our own code (business logic, SQLAlchemy, pydantic), and a target
above it needs fewer requests or statements per purchase, not faster code.
"""

from __future__ import annotations

import argparse
import os
import random
from typing import Any

# (method, statements) of each request of one guest purchase: bench queries --flow checkout
# at commit 434d480 (102 statements per purchase with the third cart add and the coupon
# averaged in; here three adds and no coupon).
PURCHASE: tuple[tuple[str, int], ...] = (
    ("GET", 2),  # session
    ("GET", 1),  # product list
    ("GET", 1),  # product page
    ("POST", 7),  # add to cart
    ("POST", 7),
    ("POST", 7),
    ("GET", 3),  # cart read
    ("POST", 5),  # start checkout
    ("POST", 4),  # SELECT_GUEST
    ("POST", 4),  # SUBMIT_GUEST_INFO
    ("POST", 4),  # SUBMIT_SHIPPING
    ("POST", 4),  # USE_SHIPPING_ADDRESS
    ("GET", 3),  # shipping options
    ("POST", 4),  # SELECT_SHIPPING
    ("POST", 4),  # SELECT_PAYMENT
    ("POST", 16),  # CONFIRM_ORDER (+ its webhook's one)
    ("POST", 21),  # payment confirm
    ("POST", 4),  # the payment_intent.succeeded webhook
)
ROWS = 100_000
TABLE = "bench_floor_rows"
# A body about the size of a checkout answer (2-3 KB of JSON).
PAYLOAD = {"context": {f"field_{i}": "x" * 40 for i in range(40)}}


def shape(name: str) -> tuple[tuple[str, int], ...]:
    if name == "http":
        return tuple((method, 0) for method, _ in PURCHASE)
    return PURCHASE


def create_app() -> Any:
    """The floor app; configured by ``BENCH_FLOOR_DATABASE_URL``, ``BENCH_FLOOR_SHAPE`` and
    ``BENCH_FLOOR_DRIVER``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    dsn = os.environ.get("BENCH_FLOOR_DATABASE_URL", "")
    steps = shape(os.environ.get("BENCH_FLOOR_SHAPE", "purchase"))
    driver = DRIVERS[os.environ.get("BENCH_FLOOR_DRIVER", "asyncpg")]()
    holder: list[Any] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        if dsn and any(n for _, n in steps):
            holder.append(await driver.open(dsn))
        yield
        for pool in holder:
            await driver.close(pool)

    app = FastAPI(lifespan=lifespan)

    async def answer(step: int) -> dict[str, Any]:
        statements = steps[step % len(steps)][1]
        rows = await driver.run(holder[0], statements) if statements else []
        return {"step": step, "rows": [r for r in rows if r is not None], **PAYLOAD}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/floor/{step}")
    async def read(step: int) -> dict[str, Any]:
        return await answer(step)

    @app.post("/floor/{step}")
    async def write(step: int, body: dict[str, Any]) -> dict[str, Any]:
        return await answer(step)

    return app


# Every third statement is an update: a purchase writes about a third of its statements.
def _is_update(i: int) -> bool:
    return i % 3 == 2


class _Asyncpg:
    """asyncpg straight: a pool, prepared statements from its cache, no ORM or Core."""

    async def open(self, dsn: str) -> Any:
        import asyncpg

        return await asyncpg.create_pool(dsn, min_size=5, max_size=10)

    async def close(self, pool: Any) -> None:
        await pool.close()

    async def run(self, pool: Any, statements: int) -> list[Any]:
        async with pool.acquire() as conn:
            if statements == 1:
                return [await self._one(conn, 0)]
            async with conn.transaction():
                return [await self._one(conn, i) for i in range(statements)]

    async def _one(self, conn: Any, i: int) -> Any:
        key = random.randrange(ROWS)
        if _is_update(i):
            await conn.execute(f"UPDATE {TABLE} SET hits = hits + 1 WHERE id = $1", key)
            return None
        row = await conn.fetchrow(f"SELECT id, hits, label FROM {TABLE} WHERE id = $1", key)
        return dict(row) if row else None


class _Sqlalchemy:
    """The same statements through SQLAlchemy Core's AsyncEngine (as the shop uses it, with
    the statements built once), to price SQLAlchemy's own work per statement."""

    def __init__(self) -> None:
        from sqlalchemy import text

        self.select = text(f"SELECT id, hits, label FROM {TABLE} WHERE id = :id")
        self.update = text(f"UPDATE {TABLE} SET hits = hits + 1 WHERE id = :id")

    async def open(self, dsn: str) -> Any:
        from sqlalchemy.ext.asyncio import create_async_engine

        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        # The asyncpg pool's size (10) and no overflow: an overflow connection is closed when
        # it comes back, and reconnecting at every burst would price PostgreSQL's fork.
        return create_async_engine(url, pool_size=10, max_overflow=0)

    async def close(self, engine: Any) -> None:
        await engine.dispose()

    async def run(self, engine: Any, statements: int) -> list[Any]:
        async with engine.connect() as conn:
            if statements == 1:
                return [await self._one(conn, 0)]
            async with conn.begin():
                return [await self._one(conn, i) for i in range(statements)]

    async def _one(self, conn: Any, i: int) -> Any:
        key = random.randrange(ROWS)
        if _is_update(i):
            await conn.execute(self.update, {"id": key})
            return None
        row = (await conn.execute(self.select, {"id": key})).first()
        return row._asdict() if row else None


class _Session(_Sqlalchemy):
    """The same statements in an ORM ``AsyncSession`` per request (``session.begin()``), as
    the shop's units of work run them: prices the session on top of Core."""

    async def open(self, dsn: str) -> Any:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        engine = await super().open(dsn)
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        return engine

    async def run(self, engine: Any, statements: int) -> list[Any]:
        async with self.sessions() as s, s.begin():
            # A session executes text statements as a Core connection does.
            return [await self._one(s, i) for i in range(statements)]


DRIVERS = {"asyncpg": _Asyncpg, "sqlalchemy": _Sqlalchemy, "session": _Session}


async def _prepare(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE}"
            " (id integer PRIMARY KEY, hits bigint NOT NULL, label text NOT NULL)"
        )
        if not await conn.fetchval(f"SELECT count(*) FROM {TABLE}"):
            await conn.execute(
                f"INSERT INTO {TABLE} SELECT g, 0, md5(g::text) FROM generate_series(0, $1) g",
                ROWS - 1,
            )
            await conn.execute(f"ANALYZE {TABLE}")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    import asyncio

    import uvicorn

    p = argparse.ArgumentParser(prog="tillpoint bench floor", description=__doc__)
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--shape", choices=["purchase", "http"], default="purchase")
    p.add_argument(
        "--driver",
        choices=sorted(DRIVERS),
        default="asyncpg",
        help="run the statements on asyncpg itself, through SQLAlchemy Core, or in an ORM"
        " session per request",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("TILLPOINT_DATABASE_URL", ""),
        help="PostgreSQL (a SQLAlchemy URL is accepted); its table is created and filled once",
    )
    args = p.parse_args(argv)
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    if args.shape == "purchase":
        if not dsn.startswith("postgresql://"):
            p.error("--shape purchase needs a PostgreSQL --database-url")
        asyncio.run(_prepare(dsn))
    os.environ["BENCH_FLOOR_DATABASE_URL"] = dsn
    os.environ["BENCH_FLOOR_SHAPE"] = args.shape
    os.environ["BENCH_FLOOR_DRIVER"] = args.driver
    uvicorn.run(
        "bench.floor:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return 0
