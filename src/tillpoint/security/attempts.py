"""Failed-attempt limits that hold under concurrency: a slot is taken before the check.

Guessing (passwords, coupon codes) is limited by counting failures per key (an account,
an address, a session). Counting only *after* a failure lets every request that arrives
before the first failure is recorded through: 15 concurrent wrong passwords checked
11-14 against a limit of 5. So an attempt first takes a slot, atomically (one Redis
script, or no ``await`` between read and write in memory): it is admitted only if the
key is not blocked and its failures *plus the attempts in flight* stay under the limit.
Then it ends one of two ways:

- :meth:`Attempts.failed`: the slot becomes a failure; the failure that reaches the
  limit blocks the key for ``block_seconds`` (even the right answer is refused then);
- :meth:`Attempts.release`: the slot is given back (right answers never count).

A limit with ``block_seconds`` 0 never blocks: it is a moving window of failures (a key
is refused while ``max_failures`` of them are in the window), as the skip-successful
request limits need (``security/ratelimit.py``).

So at most ``max_failures`` attempts are ever checked per key and window, however many
arrive at once, on one instance (memory) or all of them (Redis). Times come from the
caller's clock (stored as values; Redis TTLs only clean up), so tests can move time.
A slot left behind by a request that died counts for :data:`PENDING_SECONDS` at most.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# No check we guard takes this long; a slot older than this belongs to a dead request.
PENDING_SECONDS = 60


@dataclass(frozen=True, slots=True)
class AttemptLimit:
    """``max_failures`` failures of ``key`` within ``window_seconds`` block it for
    ``block_seconds`` (0: no block; the key has room again as failures leave the window)."""

    key: str
    max_failures: int
    window_seconds: int
    block_seconds: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """The answer to :meth:`Attempts.begin`: admitted (holding a slot on every key) or
    refused, with ``retry_after`` seconds and whether a key is ``blocked`` (else the
    slots are taken by attempts still in flight)."""

    limits: tuple[AttemptLimit, ...]
    admitted: bool
    retry_after: int = 0
    blocked: bool = False
    ticket: str = field(default_factory=lambda: secrets.token_hex(8))
    shared: bool = False  # the slot lives in Redis (else in this process)
    used: int = 0  # admitted: the most failures plus attempts in flight on a key, before it


class Attempts(Protocol):
    async def begin(self, limits: Sequence[AttemptLimit], now: datetime) -> Attempt:
        """Take a slot on every key at once, or none (refused: blocked or all in use)."""
        ...

    async def failed(self, attempt: Attempt, now: datetime) -> list[str]:
        """The attempt failed: count it; returns the keys this failure blocked."""
        ...

    async def release(self, attempt: Attempt, *, forget: Sequence[str] = ()) -> None:
        """The attempt did not fail (it succeeded, or never got to the check): give its
        slots back, and forget the failures of the keys in ``forget`` (not their blocks)."""
        ...


@dataclass(frozen=True, slots=True)
class _Standing:
    """One key at one moment: blocked until when, failures in the window (and when the
    oldest leaves it), attempts in flight."""

    blocked_until: float
    failures: int
    oldest_failure: float
    pending: int


def _used(standings: Sequence[_Standing]) -> int:
    return max((s.failures + s.pending for s in standings), default=0)


def _verdict(
    limits: Sequence[AttemptLimit], standings: Sequence[_Standing], ts: float
) -> tuple[bool, int, bool]:
    """(admitted, retry_after, blocked) for an attempt on these keys at ``ts``. A blocked
    key refuses until its block ends; a key whose slots are all taken refuses until its
    oldest failure leaves the window or, if attempts in flight hold the slots, for a
    second (they end in well under one: then the key is blocked or has room again)."""
    blocked = [s.blocked_until - ts for s in standings if s.blocked_until > ts]
    if blocked:
        return False, max(1, math.ceil(max(blocked))), True
    waits = [
        (s.oldest_failure + limit.window_seconds - ts) if s.failures >= limit.max_failures else 1
        for limit, s in zip(limits, standings, strict=True)
        if s.failures + s.pending >= limit.max_failures
    ]
    if waits:
        return False, max(1, math.ceil(max(waits))), False
    return True, 0, False


@dataclass
class _Key:
    failures: list[float] = field(default_factory=list)
    pending: dict[str, float] = field(default_factory=dict)
    blocked_until: float = 0.0

    def standing(self, limit: AttemptLimit, ts: float) -> _Standing:
        self.failures = [t for t in self.failures if t > ts - limit.window_seconds]
        self.pending = {k: t for k, t in self.pending.items() if t > ts - PENDING_SECONDS}
        oldest = self.failures[0] if self.failures else ts
        return _Standing(self.blocked_until, len(self.failures), oldest, len(self.pending))


class MemoryAttempts:
    """One process's counts (no Redis). No method awaits between reading and writing,
    so the event loop makes each atomic."""

    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        self._keys: dict[str, _Key] = {}

    async def begin(self, limits: Sequence[AttemptLimit], now: datetime) -> Attempt:
        ts = now.timestamp()
        if len(self._keys) > self._PRUNE_AT:
            self._prune(ts)
        entries = [self._keys.setdefault(limit.key, _Key()) for limit in limits]
        standings = [e.standing(limit, ts) for e, limit in zip(entries, limits, strict=True)]
        admitted, retry_after, blocked = _verdict(limits, standings, ts)
        attempt = Attempt(tuple(limits), admitted, retry_after, blocked, used=_used(standings))
        if admitted:
            for entry in entries:
                entry.pending[attempt.ticket] = ts
        return attempt

    async def failed(self, attempt: Attempt, now: datetime) -> list[str]:
        ts = now.timestamp()
        blocked = []
        for limit in attempt.limits:
            entry = self._keys.setdefault(limit.key, _Key())
            entry.pending.pop(attempt.ticket, None)
            if entry.blocked_until > ts:
                continue
            entry.standing(limit, ts)  # drops failures that left the window
            entry.failures.append(ts)
            if limit.block_seconds > 0 and len(entry.failures) >= limit.max_failures:
                entry.blocked_until = ts + limit.block_seconds
                entry.failures.clear()
                blocked.append(limit.key)
        return blocked

    async def release(self, attempt: Attempt, *, forget: Sequence[str] = ()) -> None:
        for limit in attempt.limits:
            entry = self._keys.get(limit.key)
            if entry is not None:
                entry.pending.pop(attempt.ticket, None)
                if limit.key in forget:
                    entry.failures.clear()

    def _prune(self, ts: float) -> None:
        for key, entry in list(self._keys.items()):
            stale = all(t <= ts - PENDING_SECONDS for t in entry.pending.values())
            if stale and entry.blocked_until <= ts and not entry.failures:
                del self._keys[key]


# Per key, three Redis keys: KEYS[3i-2] failures (sorted set of times), KEYS[3i-1]
# attempts in flight (sorted set of tickets by start time), KEYS[3i] the block (the
# unblock time). ARGV: now, ticket, pending seconds, then per key max, window, block.
_KEY_ARGS = """
local now, ticket, pending_s = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 3
local function arg(i, j) return tonumber(ARGV[3 + 3 * (i - 1) + j]) end
"""

# Admit (take a slot on every key) or refuse: {admitted, retry_after, blocked, used}, the
# same decision as ``_verdict``.
_BEGIN = (
    _KEY_ARGS
    + """
local block_wait, full_wait, used = 0, 0, 0
for i = 1, n do
    local fails, pend = KEYS[3 * i - 2], KEYS[3 * i - 1]
    local max, window = arg(i, 1), arg(i, 2)
    local untils = tonumber(redis.call('get', KEYS[3 * i]) or '0')
    if untils > now then
        block_wait = math.max(block_wait, untils - now)
    end
    redis.call('zremrangebyscore', fails, '-inf', now - window)
    redis.call('zremrangebyscore', pend, '-inf', now - pending_s)
    local failures = redis.call('zcard', fails)
    local taken = failures + redis.call('zcard', pend)
    used = math.max(used, taken)
    if taken >= max then
        local wait = 1
        if failures >= max then
            local oldest = redis.call('zrange', fails, 0, 0, 'WITHSCORES')
            wait = tonumber(oldest[2]) + window - now
        end
        full_wait = math.max(full_wait, wait)
    end
end
if block_wait > 0 then
    return {0, tostring(block_wait), 1, used}
end
if full_wait > 0 then
    return {0, tostring(full_wait), 0, used}
end
for i = 1, n do
    redis.call('zadd', KEYS[3 * i - 1], now, ticket)
    redis.call('expire', KEYS[3 * i - 1], pending_s + 1)
end
return {1, '0', 0, used}
"""
)

# The attempt failed: its slot becomes a failure; returns the indexes of the keys it
# blocked (1-based).
_FAILED = (
    _KEY_ARGS
    + """
local blocked = {}
for i = 1, n do
    local fails, pend, block = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    local max, window, block_s = arg(i, 1), arg(i, 2), arg(i, 3)
    redis.call('zrem', pend, ticket)
    if tonumber(redis.call('get', block) or '0') <= now then
        redis.call('zremrangebyscore', fails, '-inf', now - window)
        redis.call('zadd', fails, now, ticket)
        redis.call('expire', fails, window + 1)
        if block_s > 0 and redis.call('zcard', fails) >= max then
            redis.call('set', block, tostring(now + block_s), 'EX', block_s + 1)
            redis.call('del', fails)
            blocked[#blocked + 1] = i
        end
    end
end
return blocked
"""
)


class RedisAttempts:
    """The counts every instance shares, in Redis under ``prefix``. If Redis fails, a
    per-process count stands in (a degraded limit beats none)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryAttempts()
        self._begin = redis.register_script(_BEGIN)
        self._failed = redis.register_script(_FAILED)

    def _keys(self, limits: Sequence[AttemptLimit]) -> list[str]:
        return [
            f"{self.prefix}{part}:{limit.key}"
            for limit in limits
            for part in ("fail", "pend", "block")
        ]

    def _args(self, ticket: str, limits: Sequence[AttemptLimit], ts: float) -> list[str | float]:
        args: list[str | float] = [ts, ticket, PENDING_SECONDS]
        for limit in limits:
            args += [limit.max_failures, limit.window_seconds, limit.block_seconds]
        return args

    async def begin(self, limits: Sequence[AttemptLimit], now: datetime) -> Attempt:
        ticket = secrets.token_hex(8)
        try:
            admitted, wait, blocked, used = await self._begin(
                keys=self._keys(limits), args=self._args(ticket, limits, now.timestamp())
            )
        except RedisError as exc:
            log.warning("attempt count read failed", extra={"error": str(exc)})
            return await self.fallback.begin(limits, now)
        retry_after = max(1, math.ceil(float(wait))) if not admitted else 0
        return Attempt(
            tuple(limits), bool(admitted), retry_after, bool(blocked), ticket, True, int(used)
        )

    async def failed(self, attempt: Attempt, now: datetime) -> list[str]:
        if not attempt.shared:
            return await self.fallback.failed(attempt, now)
        limits = attempt.limits
        try:
            blocked = await self._failed(
                keys=self._keys(limits), args=self._args(attempt.ticket, limits, now.timestamp())
            )
        except RedisError as exc:
            log.warning("attempt count write failed", extra={"error": str(exc)})
            return await self.fallback.failed(attempt, now)
        return [limits[int(i) - 1].key for i in blocked]

    async def release(self, attempt: Attempt, *, forget: Sequence[str] = ()) -> None:
        if not attempt.shared:
            await self.fallback.release(attempt, forget=forget)
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for limit in attempt.limits:
                    pipe.zrem(f"{self.prefix}pend:{limit.key}", attempt.ticket)
                    if limit.key in forget:
                        pipe.delete(f"{self.prefix}fail:{limit.key}")
                await pipe.execute()
        except RedisError as exc:
            log.warning("attempt count release failed", extra={"error": str(exc)})


def attempts_for(redis: Redis | None, prefix: str) -> Attempts:
    """Redis-backed when Redis is configured (limits hold across instances), else in
    this process's memory."""
    return RedisAttempts(redis, prefix) if redis is not None else MemoryAttempts()
