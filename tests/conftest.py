"""Fixtures: every storage test runs on SQLite *and* PostgreSQL; Redis tests on real Redis.

Environment:
- ``TILLPOINT_TEST_POSTGRES_URL``: an admin URL
  (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``);
  a fresh database ``tillpoint_t_<pid>`` is created from it, migrated once, and dropped at the end.
- ``TILLPOINT_TEST_REDIS_URL``: default ``redis://127.0.0.1:6379/15``;
  the chosen DB is flushed per test.
- ``CI=true``: any skipped test fails the run (a missing service must not pass silently).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from redis.asyncio import Redis
from sqlalchemy import text

from tests.lock_order import LockOrderGuard
from tests.smtp_inbox import Inbox, free_port
from tests.support import Api, MovableClock
from tillpoint.bootstrap import build_runtime
from tillpoint.config import Settings, load_settings
from tillpoint.db import Database
from tillpoint.migrate import upgrade
from tillpoint.models import Base
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

pytest_plugins = ["tests.stripe_fixtures"]

PG_ADMIN_URL = os.environ.get(
    "TILLPOINT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TILLPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgres"]
TEST_RATE_LIMITS = {
    "rate_limit_global": "100000/15 minutes",
    "rate_limit_checkout": "100000/5 minutes",
    "rate_limit_create_intent": "100000/5 minutes",
    "rate_limit_per_address": "100000/minute",
}


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but unavailable: {why}")
    pytest.skip(f"{what} unavailable: {why}")


def _raw_pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


# --- databases --------------------------------------------------------------------------


async def admin_sql(sql: str) -> None:
    """One statement on the PostgreSQL server's admin database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(_raw_pg_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied fresh for each test."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of our own for this test run."""
    name = f"tillpoint_t_{os.getpid()}"
    try:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable("PostgreSQL", str(exc))
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_postgres(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "mode": "test",
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "background_tasks": False,
        "log_level": "WARNING",
        # Cheap argon2id for tests (production defaults cost ~100 ms per hash by design).
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        # The suite's own traffic must not trip the seed's limits; rate-limit tests set
        # the limits they exercise through `settings_overrides`.
        **TEST_RATE_LIMITS,
    }
    values.update(settings_overrides)
    return load_settings(**values)


@pytest.fixture
async def rt(settings: Settings, clock: MovableClock, backend: str) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, clock=clock)
    guard = LockOrderGuard()
    if backend == "postgres":
        await _truncate_postgres(runtime.db)
        guard.install(runtime.db.engine.sync_engine)
    yield runtime
    await runtime.close()
    assert not guard.violations, "\n".join(guard.violations)


# --- redis --------------------------------------------------------------------------------


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """Real Redis, its test database flushed before and after."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        _unavailable("Redis", str(exc))
    await client.flushdb()
    yield REDIS_URL
    await client.flushdb()
    await client.aclose()


# --- HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def app(rt: Runtime) -> Any:
    return create_app(runtime=rt)


def make_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    """A caller with a live guest session and its CSRF token."""
    async with make_client(app) as client:
        caller = Api(client)
        await caller.start()
        yield caller


@pytest.fixture
async def new_api(app: Any) -> AsyncIterator[Any]:
    """A factory of further independent callers (another browser)."""
    clients: list[httpx.AsyncClient] = []

    async def factory(start: bool = True) -> Api:
        client = make_client(app)
        clients.append(client)
        caller = Api(client)
        if start:
            await caller.start()
        return caller

    yield factory
    for c in clients:
        await c.aclose()


# --- accounts -------------------------------------------------------------------------------

ADMIN_EMAIL = "admin@shop.example.com"
ADMIN_PASSWORD = "correct-horse-admin-42"
USER_EMAIL = "customer@shop.example.com"
USER_PASSWORD = "correct-horse-customer-42"


@pytest.fixture
async def admin_api(app: Any, rt: Runtime) -> AsyncIterator[Api]:
    """A caller logged in as an admin (created through the accounts service)."""
    from tillpoint.auth.service import create_user

    await create_user(rt, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin")
    async with make_client(app) as client:
        caller = Api(client)
        await caller.start()
        r = await caller.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert r.status_code == 200, r.text
        yield caller


@pytest.fixture
async def user_api(app: Any, rt: Runtime) -> AsyncIterator[Api]:
    """A caller logged in as a customer (created through the accounts service)."""
    from tillpoint.auth.service import create_user

    await create_user(rt, email=USER_EMAIL, password=USER_PASSWORD)
    async with make_client(app) as client:
        caller = Api(client)
        await caller.start()
        r = await caller.login(USER_EMAIL, USER_PASSWORD)
        assert r.status_code == 200, r.text
        yield caller


# --- CI: skipping a real-service test is a failure ------------------------------------------

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nCI=true: {len(_skipped)} test(s) were skipped, which CI does not allow:")
        for nodeid in _skipped[:20]:
            print(f"  {nodeid}")


# A loopback SMTP server for the e-mail tests (tests/smtp_inbox.py).
@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
