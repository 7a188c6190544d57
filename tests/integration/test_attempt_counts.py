"""Failed-attempt counts (``security/attempts.py``) in memory and on real Redis: the same
answers from both stores, and never more admitted attempts than the limit, however many
arrive at once or through how many instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from tillpoint.security.attempts import AttemptLimit, Attempts, MemoryAttempts, RedisAttempts

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCOUNT = AttemptLimit("acct:a", max_failures=5, window_seconds=900, block_seconds=1800)
ADDRESS = AttemptLimit("ip:1", max_failures=20, window_seconds=900, block_seconds=900)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Attempts:
    if request.param == "redis":
        return RedisAttempts(request.getfixturevalue("redis"), "tp:test:")
    return MemoryAttempts()


async def test_fifteen_concurrent_attempts_admit_exactly_the_limit(store: Attempts) -> None:
    attempts = await asyncio.gather(*(store.begin([ACCOUNT, ADDRESS], T0) for _ in range(15)))
    admitted = [a for a in attempts if a.admitted]
    assert len(admitted) == 5
    assert all(a.retry_after == 1 and not a.blocked for a in attempts if not a.admitted)
    blocked = await asyncio.gather(*(store.failed(a, T0) for a in admitted))
    assert sorted(k for keys in blocked for k in keys) == ["acct:a"]  # the fifth, once
    refused = await store.begin([ACCOUNT], T0 + timedelta(seconds=10))
    assert (refused.admitted, refused.blocked, refused.retry_after) == (False, True, 1790)


async def test_the_block_ends_and_old_failures_leave_the_window(store: Attempts) -> None:
    for i in range(4):
        a = await store.begin([ACCOUNT], T0 + timedelta(minutes=i))
        assert await store.failed(a, T0 + timedelta(minutes=i)) == []
    later = T0 + timedelta(minutes=16)  # the first two failures left the window
    for _ in range(2):
        a = await store.begin([ACCOUNT], later)
        assert a.admitted
        assert await store.failed(a, later) == []
    a = await store.begin([ACCOUNT], later)
    assert await store.failed(a, later) == ["acct:a"]
    assert not (await store.begin([ACCOUNT], later + timedelta(seconds=1799))).admitted
    assert (await store.begin([ACCOUNT], later + timedelta(seconds=1800))).admitted


async def test_a_right_answer_gives_its_slot_back_and_can_forget_failures(
    store: Attempts,
) -> None:
    for _ in range(4):
        await store.failed(await store.begin([ACCOUNT, ADDRESS], T0), T0)
    ok = await store.begin([ACCOUNT, ADDRESS], T0)
    await store.release(ok, forget=["acct:a"])
    for _ in range(4):  # the account starts over; the address keeps its four failures
        assert await store.failed(await store.begin([ACCOUNT, ADDRESS], T0), T0) == []


async def test_two_instances_on_redis_share_one_count(redis: Redis) -> None:
    one, two = RedisAttempts(redis, "tp:test:"), RedisAttempts(redis, "tp:test:")
    attempts = await asyncio.gather(
        *((one if i % 2 else two).begin([ACCOUNT], T0) for i in range(15))
    )
    assert sum(a.admitted for a in attempts) == 5


async def test_a_dead_redis_falls_back_to_counting_in_memory() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    store = RedisAttempts(dead, "tp:test:")
    attempts = [await store.begin([ACCOUNT], T0) for _ in range(6)]
    assert [a.admitted for a in attempts] == [True] * 5 + [False]
    await dead.aclose()
