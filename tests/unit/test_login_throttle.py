"""The in-memory attempt counts behind the login throttle: 5 failures in 15 minutes block
a key for 30 minutes, and attempts in flight hold their slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tillpoint.auth.throttle import ThrottlePolicy
from tillpoint.security.attempts import PENDING_SECONDS, AttemptLimit, MemoryAttempts

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(max_failures=5, window_seconds=900, block_seconds=1800)


def _on(*keys: str) -> list[AttemptLimit]:
    return [POLICY.on(k) for k in keys]


async def _fail(t: MemoryAttempts, keys: list[AttemptLimit], at: datetime) -> list[str]:
    attempt = await t.begin(keys, at)
    assert attempt.admitted
    return await t.failed(attempt, at)


async def test_fifth_failure_blocks_for_the_block_duration() -> None:
    t = MemoryAttempts()
    for i in range(4):
        assert await _fail(t, _on("acct:a", "ip:1"), T0 + timedelta(seconds=i)) == []
    assert await _fail(t, _on("acct:a", "ip:1"), T0 + timedelta(seconds=4)) == ["acct:a", "ip:1"]
    refused = await t.begin(_on("acct:a"), T0 + timedelta(seconds=4))
    assert (refused.admitted, refused.blocked, refused.retry_after) == (False, True, 1800)
    assert not (await t.begin(_on("acct:b", "ip:1"), T0 + timedelta(minutes=29))).admitted
    assert (await t.begin(_on("acct:a"), T0 + timedelta(seconds=4 + 1800))).admitted


async def test_failures_older_than_the_window_do_not_count() -> None:
    t = MemoryAttempts()
    for i in range(4):
        await _fail(t, _on("acct:a"), T0 + timedelta(minutes=i))
    later = T0 + timedelta(minutes=16)
    assert await _fail(t, _on("acct:a"), later) == []
    assert (await t.begin(_on("acct:a"), later)).admitted


async def test_release_forgets_failures_but_not_a_block() -> None:
    t = MemoryAttempts()
    for _ in range(4):
        await _fail(t, _on("acct:a"), T0)
    ok = await t.begin(_on("acct:a"), T0)
    await t.release(ok, forget=["acct:a"])
    assert await _fail(t, _on("acct:a"), T0) == []
    for _ in range(4):
        await _fail(t, _on("acct:b"), T0)
    await _fail(t, _on("acct:b"), T0)
    refused = await t.begin(_on("acct:b"), T0)
    await t.release(refused, forget=["acct:b"])
    assert (await t.begin(_on("acct:b"), T0)).retry_after == 1800


async def test_attempts_in_flight_hold_their_slots_until_they_end() -> None:
    t = MemoryAttempts()
    flying = [await t.begin(_on("acct:a"), T0) for _ in range(5)]
    assert all(a.admitted for a in flying)
    sixth = await t.begin(_on("acct:a"), T0)
    assert (sixth.admitted, sixth.blocked, sixth.retry_after) == (False, False, 1)
    await t.release(flying[0])  # a right answer gives its slot back
    assert (await t.begin(_on("acct:a"), T0)).admitted


async def test_an_attempt_refused_on_one_key_takes_no_slot_on_the_others() -> None:
    t = MemoryAttempts()
    for _ in range(5):
        await _fail(t, _on("ip:1"), T0)
    assert not (await t.begin(_on("acct:a", "ip:1"), T0)).admitted
    for _ in range(5):
        assert (await t.begin(_on("acct:a"), T0)).admitted


async def test_a_slot_left_by_a_dead_request_frees_after_the_pending_limit() -> None:
    t = MemoryAttempts()
    for _ in range(5):
        await t.begin(_on("acct:a"), T0)  # never ended
    assert not (await t.begin(_on("acct:a"), T0 + timedelta(seconds=PENDING_SECONDS - 1))).admitted
    later = T0 + timedelta(seconds=PENDING_SECONDS)
    assert (await t.begin(_on("acct:a"), later)).admitted
