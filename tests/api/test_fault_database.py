"""Fault injection: the app's own PostgreSQL connections are killed (``pg_terminate_backend``).

Only the app's backends in this run's database are terminated, never the server
(other suites share it). A request whose connection dies answers a clean 503
with ``Retry-After``; nothing it started is written; the retry succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import factories
from tests.conftest import _raw_pg_dsn, _truncate_postgres, make_client
from tests.support import Api, MovableClock, error_code
from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_rt(
    postgres_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Runtime]:
    """A runtime on this run's PostgreSQL database (these faults exist only there)."""
    settings = load_settings(
        mode="test",
        database_url=postgres_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        background_tasks=False,
        log_level="CRITICAL",
        database_ping_idle_seconds=getattr(request, "param", 1.0),
    )
    runtime = build_runtime(settings, clock=MovableClock())
    await _truncate_postgres(runtime.db)
    yield runtime
    await runtime.close()


@pytest.fixture
async def pg_api(pg_rt: Runtime) -> AsyncIterator[Api]:
    async with make_client(create_app(runtime=pg_rt)) as client:
        caller = Api(client)
        await caller.start()
        yield caller


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[Any]:
    """A connection of our own to the same database, outside the app's pool."""
    conn = await asyncpg.connect(_raw_pg_dsn(postgres_url))
    yield conn
    await conn.close()


async def _app_backend_waiting_on_a_lock(admin: Any) -> int:
    for _ in range(200):
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"
        )
        if pid:
            return int(pid)
        await asyncio.sleep(0.05)
    raise AssertionError("the request never reached the row lock")


async def test_connection_killed_mid_write_answers_503_writes_nothing_and_retry_succeeds(
    pg_api: Api, pg_rt: Runtime, admin: Any
) -> None:
    p = await factories.product(pg_rt, price=1800)
    cart_id = pg_api.session["cart_id"]
    # Hold the cart's row lock so the app's write is parked mid-transaction, then kill it there.
    blocker = admin.transaction()
    await blocker.start()
    await admin.execute("SELECT 1 FROM carts WHERE id = $1 FOR UPDATE", cart_id)
    write = asyncio.create_task(
        pg_api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
    )
    victim = await _app_backend_waiting_on_a_lock(admin)
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", victim)
    await blocker.rollback()
    r = await write
    assert r.status_code == 503, r.text
    assert error_code(r) == "database_unavailable"
    assert r.headers["retry-after"] == "1"

    still = await pg_api.get("/api/cart")
    assert still.status_code == 200
    assert still.json()["items"] == [] and still.json()["version"] == 1
    assert await admin.fetchval("SELECT count(*) FROM cart_items WHERE cart_id = $1", cart_id) == 0

    retry = await pg_api.post("/api/cart/items", json={"product_id": p.id, "quantity": 2})
    assert retry.status_code == 200, retry.text
    assert [(i["product_id"], i["quantity"]) for i in retry.json()["items"]] == [(p.id, 2)]
    assert retry.json()["version"] == 2


@pytest.mark.parametrize("pg_rt", [3600.0, 0.0], ids=["closed-flag", "ping"], indirect=True)
async def test_idle_pooled_connections_killed_are_replaced_without_an_error(
    pg_api: Api, pg_rt: Runtime, admin: Any
) -> None:
    """A pooled connection the server closed is replaced at checkout: by the driver's
    closed flag (free; no ping for connections idle under an hour) and, with the idle
    threshold at 0, also after a ping on every checkout."""
    p = await factories.product(pg_rt, price=500)
    await asyncio.gather(*(pg_api.get("/api/cart") for _ in range(5)))  # fill the pool
    # The timeout makes pg_terminate_backend wait until each backend has exited.
    killed = await admin.fetchval(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t"
    )
    assert killed >= 1
    answers = await asyncio.gather(
        *(pg_api.post("/api/cart/items", json={"product_id": p.id}) for _ in range(3)),
        pg_api.get("/api/cart"),
    )
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    cart = (await pg_api.get("/api/cart")).json()
    assert cart["items"][0]["quantity"] == 3 and cart["version"] == 4


async def test_every_connection_killed_repeatedly_under_load_never_answers_500(
    pg_rt: Runtime, admin: Any
) -> None:
    """Shoppers keep writing while a killer terminates the app's backends again and again.

    Each answer is a success or a clean 503. No write is half-done (each stored
    unit bumped the version exactly once) and no success is lost; a 503 whose
    connection died during COMMIT itself may have been applied, which is why the
    upper bound counts them.
    """
    p = await factories.product(pg_rt, price=700)
    app = create_app(runtime=pg_rt)
    shoppers = []
    for _ in range(6):
        client = make_client(app)
        caller = Api(client)
        await caller.start()
        shoppers.append(caller)
    stop = asyncio.Event()

    async def killer() -> int:
        kills = 0
        while not stop.is_set():
            # One busy backend at a time, so some requests get through between kills.
            kills += await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state <> 'idle' LIMIT 1) AS t"
            )
            await asyncio.sleep(0.1)
        return kills

    async def shop(caller: Api) -> tuple[int, list[int]]:
        added, statuses = 0, []
        for _ in range(15):
            r = await caller.post("/api/cart/items", json={"product_id": p.id})
            statuses.append(r.status_code)
            if r.status_code == 200:
                added += 1
            else:
                assert r.status_code == 503 and error_code(r) == "database_unavailable", r.text
        return added, statuses

    kill_task = asyncio.create_task(killer())
    try:
        results = await asyncio.gather(*(shop(c) for c in shoppers))
    finally:
        stop.set()
        kills = await kill_task
    assert kills > 0
    all_statuses = [s for _added, st in results for s in st]
    assert set(all_statuses) <= {200, 503}
    assert 200 in all_statuses and 503 in all_statuses  # the faults really hit requests
    for caller, (added, statuses) in zip(shoppers, results, strict=True):
        cart = (await caller.get("/api/cart")).json()
        quantity = cart["items"][0]["quantity"] if cart["items"] else 0
        assert added <= quantity <= added + statuses.count(503)
        assert cart["version"] == 1 + quantity
    for caller in shoppers:
        await caller.client.aclose()


async def test_connection_pool_exhausted_answers_503_database_busy_not_500() -> None:
    """Seen in the 1,000-shopper stampede: every pooled connection busy for the pool's timeout."""
    from fastapi import FastAPI
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from tillpoint.web.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    async def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    async with make_client(app) as client:
        r = await client.get("/busy")
    assert r.status_code == 503 and error_code(r) == "database_busy"
    assert r.headers["retry-after"] == "2"
