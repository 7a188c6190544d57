"""Rate limits over HTTP: counts, reset, block, skip-successful, Redis sharing, adaptive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from tests.support import error_code
from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.bootstrap import build_runtime
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

BASE = "http://testserver"


def _app(rt: Runtime, **overrides: Any) -> Any:
    """An app over the test's database with these settings changed."""
    settings = rt.settings.model_copy(update=overrides)
    return create_app(
        runtime=build_runtime(settings, connections=(rt.db, rt.redis), clock=rt.clock)
    )


def _first_route(app: Any, path: str, method: str, endpoint: Callable[..., Any]) -> None:
    """Mount ``endpoint`` ahead of every other route (a stand-in for a feature's route)."""
    app.add_api_route(path, endpoint, methods=[method])
    app.router.routes.insert(0, app.router.routes.pop())


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(app: Any, client: tuple[str, int] = ("127.0.0.1", 5000)) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=client)
        c = httpx.AsyncClient(transport=transport, base_url=BASE)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def _limits(r: httpx.Response) -> tuple[int, int, int]:
    return (
        int(r.headers["RateLimit-Limit"]),
        int(r.headers["RateLimit-Remaining"]),
        int(r.headers["RateLimit-Reset"]),
    )


async def test_global_limit_trips_after_its_count_with_standard_headers(
    rt: Runtime, client_for: Any
) -> None:
    client = client_for(_app(rt, rate_limit_global="5/15 minutes"))
    await client.get("/api/session")  # the global limit is a session's budget
    for expected_remaining in (4, 3, 2, 1, 0):
        r = await client.get("/api/products")
        assert r.status_code == 200
        limit, remaining, reset = _limits(r)
        assert (limit, remaining) == (5, expected_remaining) and 0 < reset <= 900
    refused = await client.get("/api/products")
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 900
    assert _limits(refused)[:2] == (5, 0)
    assert refused.json()["error"]["details"]["limit"] == "global"
    # Health checks are never limited (load balancers poll them).
    assert (await client.get("/healthz")).status_code == 200


async def test_a_limit_resets_when_its_window_has_passed(rt: Runtime, client_for: Any) -> None:
    client = client_for(_app(rt, rate_limit_global="2/1 second"))
    await client.get("/api/session")
    assert [(await client.get("/api/products")).status_code for _ in range(3)] == [200, 200, 429]
    await asyncio.sleep(1.1)
    assert (await client.get("/api/products")).status_code == 200


async def test_checkout_limit_applies_to_checkout_paths_only(rt: Runtime, client_for: Any) -> None:
    client = client_for(_app(rt, rate_limit_checkout="3/5 minutes"))
    await client.get("/api/session")
    statuses = [(await client.get("/api/checkout/chk_x")).status_code for _ in range(4)]
    assert statuses[:3] != [429, 429, 429] and statuses[3] == 429
    assert (await client.post("/api/checkout")).status_code == 429  # the collection path too
    assert (await client.get("/api/products")).status_code == 200


async def test_create_intent_counts_only_unsuccessful_requests(
    rt: Runtime, client_for: Any
) -> None:
    app = _app(rt, rate_limit_create_intent="2/5 minutes")

    async def create_intent(request: Request) -> JSONResponse:
        ok = (await request.json()).get("ok", False)
        return JSONResponse({"ok": ok}, 200 if ok else 402)

    _first_route(app, "/api/payment/create-intent", "POST", create_intent)
    client = client_for(app)
    await client.get("/api/session")
    client.headers["X-CSRF-Token"] = str(client.cookies.get("csrf-token"))
    path = "/api/payment/create-intent"
    # Successes do not count: more of them than the limit go through.
    for _ in range(6):
        assert (await client.post(path, json={"ok": True})).status_code == 200
    assert (await client.post(path, json={"ok": False})).status_code == 402
    r = await client.post(path, json={"ok": False})
    assert r.status_code == 402 and _limits(r)[1] == 0
    refused = await client.post(path, json={"ok": True})
    assert refused.status_code == 429 and error_code(refused) == "rate_limited"
    assert refused.json()["error"]["details"]["limit"] == "create_intent"


async def test_login_limit_and_block_come_from_the_security_settings(
    rt: Runtime, client_for: Any
) -> None:
    from tillpoint.auth.service import create_user

    await create_user(rt, email="who@shop.example.com", password="a-long-enough-password-1")
    client = client_for(
        _app(rt, rate_limit_login="2/15 minutes", rate_limit_login_block_seconds=90)
    )
    await client.get("/api/session")
    client.headers["X-CSRF-Token"] = str(client.cookies.get("csrf-token"))

    async def login(password: str) -> httpx.Response:
        body = {"email": "who@shop.example.com", "password": password}
        return await client.post("/api/auth/login", json=body)

    assert [(await login("wrong-password-000")).status_code for _ in range(2)] == [401, 401]
    blocked = await login("a-long-enough-password-1")
    assert blocked.status_code == 429 and error_code(blocked) == "login_blocked"
    assert blocked.headers["Retry-After"] == "90"


async def test_a_rule_with_a_block_refuses_until_the_block_ends() -> None:
    from tillpoint.security.load import LoadMonitor
    from tillpoint.security.ratelimit import LimitRule, RateLimiter

    rule = LimitRule("probe", amount=2, window_seconds=1, block_seconds=2)
    limiter = RateLimiter({"probe": rule}, LoadMonitor(100, 250, 0.5))
    assert [(await limiter.consume("probe", "k")).allowed for _ in range(2)] == [True, True]
    tripped = await limiter.consume("probe", "k")
    assert not tripped.allowed and tripped.blocked and tripped.reset_after == 2
    await asyncio.sleep(1.1)  # the window has passed, the block has not
    assert not (await limiter.peek("probe", "k")).allowed
    await asyncio.sleep(1.0)
    assert (await limiter.consume("probe", "k")).allowed


async def test_limits_are_shared_by_two_instances_through_redis(
    rt: Runtime, redis_url: str, client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def instance() -> tuple[Any, Runtime]:
        settings = rt.settings.model_copy(
            update={"redis_url": redis_url, "rate_limit_per_address": "4/15 minutes"}
        )
        own = build_runtime(
            settings, connections=(rt.db, Redis.from_url(redis_url)), clock=rt.clock
        )
        return create_app(runtime=own), own

    (app_a, rt_a), (app_b, rt_b) = instance(), instance()
    try:
        a, b = client_for(app_a), client_for(app_b)
        assert (await a.get("/api/products")).status_code == 200
        assert (await b.get("/api/products")).status_code == 200
        assert (await a.get("/api/products")).status_code == 200
        r = await b.get("/api/products")
        fallbacks = [m for m in caplog.messages if "rate limit storage failed" in m]
        assert r.status_code == 200 and _limits(r)[1] == 0, (r.headers, fallbacks)
        assert (await a.get("/api/products")).status_code == 429
        assert (await b.get("/api/products")).status_code == 429
        assert app_a.state.rate_limiter.shared and app_b.state.rate_limiter.shared
        assert [k async for k in rt_a.redis.scan_iter("rl*")]  # type: ignore[union-attr]
    finally:
        for own in (rt_a, rt_b):
            await own.redis.aclose()  # type: ignore[union-attr]


async def test_a_dead_redis_falls_back_to_per_instance_limits(rt: Runtime, client_for: Any) -> None:
    settings = rt.settings.model_copy(update={"rate_limit_per_address": "2/15 minutes"})
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    app = create_app(runtime=build_runtime(settings, connections=(rt.db, dead), clock=rt.clock))
    client = client_for(app)
    statuses = [(await client.get("/api/products")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    await dead.aclose()


async def test_adaptive_mode_shrinks_limits_under_load_and_recovers(
    rt: Runtime, client_for: Any
) -> None:
    app = _app(rt, rate_limit_per_address="10/15 minutes", rate_limit_surge_multiplier=0.5)
    client = client_for(app)
    monitor = app.state.load_monitor
    r = await client.get("/api/products")
    assert _limits(r)[:2] == (10, 9)
    monitor.observe(in_flight=monitor.in_flight_threshold + 1, lag_ms=0)  # measured surge
    statuses = [(await client.get("/api/products")).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # 5 allowed in all while surging
    monitor.observe(in_flight=0, lag_ms=1)  # load fell
    r = await client.get("/api/products")
    assert r.status_code == 200 and _limits(r)[:2] == (10, 4)


async def test_a_surge_shrinks_the_session_budgets_too(rt: Runtime, client_for: Any) -> None:
    app = _app(rt, rate_limit_checkout="4/5 minutes", rate_limit_surge_multiplier=0.5)
    client = client_for(app)
    await client.get("/api/session")
    monitor = app.state.load_monitor
    monitor.observe(in_flight=monitor.in_flight_threshold + 1, lag_ms=0)
    statuses = [(await client.get("/api/checkout/chk_x")).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]  # 2 of the session's 4 while surging
    refused = await client.get("/api/checkout/chk_x")
    assert refused.json()["error"]["details"]["limit"] == "checkout"
    assert _limits(refused)[:2] == (2, 0)


async def test_forwarded_for_counts_per_client_only_behind_a_trusted_proxy(
    rt: Runtime, client_for: Any
) -> None:
    trusting = client_for(
        _app(rt, rate_limit_per_address="2/15 minutes", trusted_proxies="127.0.0.1/32")
    )
    for ip in ("198.51.100.1", "198.51.100.2"):
        hdr = {"X-Forwarded-For": ip}
        got = [(await trusting.get("/api/products", headers=hdr)).status_code for _ in range(3)]
        assert got == [200, 200, 429], ip
    spoofed = client_for(_app(rt, rate_limit_per_address="2/15 minutes"), client=("203.0.113.7", 1))
    got = [
        (await spoofed.get("/api/products", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status_code
        for i in range(3)
    ]
    assert got == [200, 200, 429]  # an untrusted peer cannot pick its own key


async def test_every_forwarded_for_line_is_read_not_only_the_first(
    rt: Runtime, client_for: Any
) -> None:
    """A proxy may add its own ``X-Forwarded-For`` line below the one the client sent;
    the lines are one list (RFC 9110 5.3), so the client cannot pick its key with a first
    line of its own."""
    client = client_for(
        _app(rt, rate_limit_per_address="2/15 minutes", trusted_proxies="127.0.0.1/32")
    )
    statuses = []
    for spoofed in ("10.9.9.1", "10.9.9.2", "10.9.9.3"):
        headers = [("x-forwarded-for", spoofed), ("x-forwarded-for", "198.51.100.7")]
        statuses.append((await client.get("/api/products", headers=headers)).status_code)
    assert statuses == [200, 200, 429]


async def test_a_flood_of_refusals_is_audited_once(rt: Runtime, client_for: Any) -> None:
    client = client_for(_app(rt, rate_limit_per_address="1/15 minutes"))
    statuses = [(await client.get("/api/products")).status_code for _ in range(4)]
    assert statuses == [200, 429, 429, 429]
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["rate_limited"]))
    assert len(rows) == 1
    assert rows[0].entity_id == "127.0.0.1" and rows[0].meta["limit"] == "address"
    assert rows[0].meta["path"] == "/api/products"


async def test_a_csrf_failure_is_audited(rt: Runtime, client_for: Any) -> None:
    client = client_for(_app(rt))
    await client.get("/api/session")
    r = await client.post("/api/cart/items", json={"product_id": "prd_x"})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["csrf_failed"]))
    assert len(rows) == 1 and rows[0].meta == {"method": "POST", "path": "/api/cart/items"}
    assert rows[0].session_id is not None and rows[0].ip_address == "127.0.0.1"


async def test_an_unsigned_inventory_webhook_is_audited(rt: Runtime, client_for: Any) -> None:
    app = _app(rt, inventory_webhook_secret="whsec_test_inventory_secret_0000000000")
    client = client_for(app)
    r = await client.post("/api/inventory/webhook", json={"updates": []})
    assert r.status_code in (400, 401), r.text
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["webhook_signature_failed"]))
    assert len(rows) == 1 and rows[0].meta["webhook"] == "inventory"
    assert rows[0].meta["reason"] == error_code(r)


def _tiny_pool_app(rt: Runtime, redis_url: str, **overrides: Any) -> tuple[Any, Runtime]:
    settings = rt.settings.model_copy(
        update={
            "redis_url": redis_url,
            "rate_limit_adaptive": False,
            "rate_limit_redis_pool_size": 2,
            "rate_limit_redis_pool_timeout_seconds": 0.05,
            **overrides,
        }
    )
    own = build_runtime(settings, connections=(rt.db, Redis.from_url(redis_url)), clock=rt.clock)
    return create_app(runtime=own), own


async def test_a_burst_on_a_tiny_limiter_pool_waits_or_falls_back_and_never_fails(
    rt: Runtime, redis_url: str, client_for: Any
) -> None:
    """Seen in the 1,000-shopper stampede: the limiter exhausted the shared Redis pool
    ("Too many connections"). Its own pool is bounded and blocking: a burst of 150
    concurrent requests never opens more than its 2 connections, and none fails."""
    app, own = _tiny_pool_app(rt, redis_url)
    try:
        clients = [client_for(app, client=(f"10.0.{i // 250}.{i % 250}", 5000)) for i in range(150)]
        answers = await asyncio.gather(*(c.get("/api/products") for c in clients))
        assert {r.status_code for r in answers} == {200}
        limiter = app.state.rate_limiter
        pool = limiter._pool
        assert pool.max_connections == 2
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 2
        assert [k async for k in own.redis.scan_iter("rl*")]  # Redis really counted
        await limiter.aclose()
    finally:
        await own.redis.aclose()  # type: ignore[union-attr]


async def test_a_busy_limiter_pool_counts_in_memory_instead(
    rt: Runtime, redis_url: str, client_for: Any
) -> None:
    app, own = _tiny_pool_app(rt, redis_url, rate_limit_per_address="3/15 minutes")
    client = client_for(app)
    try:
        assert (await client.get("/api/products")).status_code == 200  # builds the limiter
        pool = app.state.rate_limiter._pool
        # Something else holds every connection of the pool: requests still get answers,
        # counted per instance (in memory the fourth is over the limit), in bounded time.
        held = [await pool.get_connection(), await pool.get_connection()]
        started = asyncio.get_running_loop().time()
        statuses = [(await client.get("/api/products")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert asyncio.get_running_loop().time() - started < 5
        for conn in held:
            await pool.release(conn)
        await app.state.rate_limiter.aclose()
    finally:
        await own.redis.aclose()  # type: ignore[union-attr]


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Where the limiter keeps its counts: this process, or Redis."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else None


async def test_concurrent_unsuccessful_create_intents_never_pass_the_limit(
    rt: Runtime, client_for: Any, store_url: str | None
) -> None:
    """Ten failing create-intents at once against a limit of 2: two reach the handler, the
    rest are refused up front (the check and the count are one step)."""
    overrides: dict[str, Any] = {"rate_limit_create_intent": "2/5 minutes"}
    redis = None
    if store_url is not None:
        overrides["redis_url"] = store_url
        redis = Redis.from_url(store_url)
    settings = rt.settings.model_copy(update=overrides)
    shared = build_runtime(settings, clock=rt.clock, connections=(rt.db, redis))
    app = create_app(runtime=shared)
    reached: list[int] = []

    async def create_intent(request: Request) -> JSONResponse:
        reached.append(1)
        await asyncio.sleep(0.05)  # the gateway call
        return JSONResponse({"ok": False}, 402)

    _first_route(app, "/api/payment/create-intent", "POST", create_intent)
    client = client_for(app)
    await client.get("/api/session")
    client.headers["X-CSRF-Token"] = str(client.cookies.get("csrf-token"))
    try:
        path = "/api/payment/create-intent"
        answers = await asyncio.gather(*(client.post(path, json={}) for _ in range(10)))
        assert sorted(r.status_code for r in answers) == [402] * 2 + [429] * 8
        assert len(reached) == 2
        # Once both have failed, the window is full: refused until it passes.
        refused = await client.post(path, json={})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 1
    finally:
        if redis is not None:
            await redis.aclose()
