"""The in-memory login throttle: 5 failures in 15 minutes block a key for 30 minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tillpoint.auth.throttle import MemoryLoginThrottle, ThrottlePolicy

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(max_failures=5, window_seconds=900, block_seconds=1800)


async def test_fifth_failure_blocks_for_the_block_duration() -> None:
    t = MemoryLoginThrottle(POLICY)
    for i in range(4):
        assert await t.record_failure(["acct:a", "ip:1"], T0 + timedelta(seconds=i)) == []
        assert await t.blocked_for(["acct:a"], T0) == 0
    assert await t.record_failure(["acct:a", "ip:1"], T0 + timedelta(seconds=4)) == [
        "acct:a",
        "ip:1",
    ]
    assert await t.blocked_for(["acct:a"], T0 + timedelta(seconds=4)) == 1800
    assert await t.blocked_for(["acct:b", "ip:1"], T0 + timedelta(minutes=29)) > 0
    assert await t.blocked_for(["acct:a"], T0 + timedelta(seconds=4 + 1800)) == 0


async def test_failures_older_than_the_window_do_not_count() -> None:
    t = MemoryLoginThrottle(POLICY)
    for i in range(4):
        await t.record_failure(["acct:a"], T0 + timedelta(minutes=i))
    later = T0 + timedelta(minutes=16)
    assert await t.record_failure(["acct:a"], later) == []
    assert await t.blocked_for(["acct:a"], later) == 0


async def test_clear_forgets_failures_but_not_a_block() -> None:
    t = MemoryLoginThrottle(POLICY)
    for _ in range(4):
        await t.record_failure(["acct:a"], T0)
    await t.clear("acct:a")
    assert await t.record_failure(["acct:a"], T0) == []
    for _ in range(4):
        await t.record_failure(["acct:b"], T0)
    await t.record_failure(["acct:b"], T0)
    await t.clear("acct:b")
    assert await t.blocked_for(["acct:b"], T0) == 1800
