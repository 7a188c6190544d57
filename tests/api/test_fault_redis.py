"""Fault injection: Redis dies or stops answering while shoppers keep shopping.

Each test runs its own ``redis-server`` (``tests/redis_process.py``) and kills or
pauses only that one. The database is the source of truth: without Redis the
app serves carts from it, never a 5xx, and never a stale cart once Redis is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests import factories
from tests.redis_process import PartitionProxy, RedisProcess
from tests.support import Api

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings_overrides(own_redis: RedisProcess) -> dict[str, Any]:
    return {"redis_url": own_redis.url, "log_level": "CRITICAL"}


async def _cart_keys(server: RedisProcess) -> int:
    """How many carts the cache holds (a fresh client: the server may have restarted)."""
    client = Redis.from_url(server.url, socket_timeout=1)
    try:
        return len([k async for k in client.scan_iter("cart:*")])
    finally:
        await client.aclose()


async def test_redis_killed_during_load_carts_keep_being_served_from_the_database(
    own_redis: RedisProcess, new_api: Any, rt: Any
) -> None:
    tea = await factories.product(rt, price=1250)
    mug = await factories.product(rt, price=1800)
    shoppers: list[Api] = [await new_api() for _ in range(6)]
    for s in shoppers:
        await s.post("/api/cart/items", json={"product_id": tea.id})
        assert (await s.get("/api/cart")).status_code == 200
    assert await _cart_keys(own_redis) == len(shoppers)  # the cache was really in use

    done_requests = 0
    halfway = asyncio.Event()
    statuses: list[int] = []

    async def shop(s: Api) -> None:
        nonlocal done_requests
        for n in range(1, 9):
            added = await s.post("/api/cart/items", json={"product_id": mug.id})
            got = await s.get("/api/cart")
            statuses.extend([added.status_code, got.status_code])
            done_requests += 2
            if done_requests >= 40:
                halfway.set()
            if got.status_code == 200:
                mugs = [i["quantity"] for i in got.json()["items"] if i["product_id"] == mug.id]
                assert mugs == [n], "a cart read missed a committed write"

    async def kill_when_halfway() -> None:
        await halfway.wait()
        own_redis.kill()

    await asyncio.gather(kill_when_halfway(), *(shop(s) for s in shoppers))
    assert own_redis.proc is None
    assert statuses == [200] * len(statuses)

    newcomer = await new_api()  # a brand-new guest while Redis is down
    r = await newcomer.post("/api/cart/items", json={"product_id": tea.id, "quantity": 3})
    assert r.status_code == 200 and r.json()["totals"]["subtotal"] == 3750

    own_redis.start()  # back, empty: the app reconnects and fills the cache again
    for s in shoppers:
        cart = (await s.get("/api/cart")).json()
        assert [i["quantity"] for i in cart["items"]] == [1, 8]
    assert await _cart_keys(own_redis) == len(shoppers)


async def test_writes_while_redis_hangs_succeed_and_the_cart_is_current_after(
    own_redis: RedisProcess, api: Api, rt: Any
) -> None:
    """A hung Redis (SIGSTOP) costs the socket timeout, never the request."""
    tea = await factories.product(rt, price=1250)
    await api.post("/api/cart/items", json={"product_id": tea.id})
    before = (await api.get("/api/cart")).json()  # cached at version 2
    assert await _cart_keys(own_redis) == 1
    own_redis.pause()
    try:
        during = await api.post("/api/cart/items", json={"product_id": tea.id})
        assert during.status_code == 200
    finally:
        own_redis.resume()
    after = await api.get("/api/cart")
    assert after.status_code == 200
    assert after.json()["version"] == before["version"] + 1
    assert after.json()["items"][0]["quantity"] == 2


@pytest.fixture
async def partition(own_redis: RedisProcess) -> AsyncIterator[PartitionProxy]:
    proxy = PartitionProxy(own_redis.port)
    await proxy.start()
    yield proxy
    await proxy.close()


class TestBehindAPartition:
    """The app reaches Redis through a proxy that can drop traffic."""

    @pytest.fixture
    def settings_overrides(self, partition: PartitionProxy) -> dict[str, Any]:
        return {"redis_url": partition.url, "log_level": "CRITICAL"}

    async def test_cart_changed_during_a_partition_is_not_served_stale_after_it_heals(
        self, own_redis: RedisProcess, partition: PartitionProxy, api: Api, rt: Any
    ) -> None:
        tea = await factories.product(rt, price=1250)
        await api.post("/api/cart/items", json={"product_id": tea.id})
        before = (await api.get("/api/cart")).json()  # now cached at this version
        assert await _cart_keys(own_redis) == 1
        partition.cut = True  # the write's cache invalidation is lost on the way
        try:
            during = await api.post("/api/cart/items", json={"product_id": tea.id})
            assert during.status_code == 200
        finally:
            partition.cut = False
        assert await _cart_keys(own_redis) == 1  # the old entry really survived
        after = await api.get("/api/cart")
        assert after.status_code == 200
        assert after.json()["version"] == before["version"] + 1
        assert after.json()["items"][0]["quantity"] == 2
