"""Login throttling (the seed's ``/api/auth/login``: 5 per 15 min, then 30 min blocked).

Failed attempts are counted per key (the account's email digest and the client IP);
when a key reaches ``max_failures`` within ``window`` it is blocked for ``block``
seconds, during which every attempt on it is refused, even with the right password.

:class:`LoginThrottle` is the small interface the login use case needs, so the general
rate limiter can replace the stores later. Times come from the caller's clock (stored
as values, Redis TTLs only clean up), so tests can move time on both stores.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import limits
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tillpoint.config import Settings

log = logging.getLogger(__name__)
PREFIX = "tp:login:"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int
    window_seconds: int
    block_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        """The security settings' login limit: ``rate_limit_login`` ("5/15 minutes") counts
        failures, ``rate_limit_login_block_seconds`` is the block (one set of knobs for the
        one login limit)."""
        item = limits.parse(settings.rate_limit_login)
        return cls(item.amount, item.get_expiry(), settings.rate_limit_login_block_seconds)


class LoginThrottle(Protocol):
    async def blocked_for(self, keys: Sequence[str], now: datetime) -> int:
        """Seconds until every key is unblocked (0: the attempt may proceed)."""
        ...

    async def record_failure(self, keys: Sequence[str], now: datetime) -> list[str]:
        """Count a failed attempt on each key; returns the keys this failure blocked."""
        ...

    async def clear(self, key: str) -> None:
        """Forget a key's failures (a successful login clears its account key)."""
        ...


@dataclass
class _Bucket:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class MemoryLoginThrottle:
    """One process's throttle, for running without Redis."""

    _PRUNE_AT = 10_000

    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy
        self._buckets: dict[str, _Bucket] = {}

    async def blocked_for(self, keys: Sequence[str], now: datetime) -> int:
        ts = now.timestamp()
        until = max((self._buckets[k].blocked_until for k in keys if k in self._buckets), default=0)
        return max(0, math.ceil(until - ts))

    async def record_failure(self, keys: Sequence[str], now: datetime) -> list[str]:
        ts = now.timestamp()
        if len(self._buckets) > self._PRUNE_AT:
            self._prune(ts)
        blocked = []
        for key in keys:
            bucket = self._buckets.setdefault(key, _Bucket())
            self._drop_old(bucket, ts)
            bucket.failures.append(ts)
            if len(bucket.failures) >= self.policy.max_failures and bucket.blocked_until <= ts:
                bucket.blocked_until = ts + self.policy.block_seconds
                bucket.failures.clear()
                blocked.append(key)
        return blocked

    async def clear(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.blocked_until == 0:
            del self._buckets[key]
        elif bucket is not None:
            bucket.failures.clear()

    def _drop_old(self, bucket: _Bucket, ts: float) -> None:
        while bucket.failures and bucket.failures[0] <= ts - self.policy.window_seconds:
            bucket.failures.popleft()

    def _prune(self, ts: float) -> None:
        for key, bucket in list(self._buckets.items()):
            self._drop_old(bucket, ts)
            if not bucket.failures and bucket.blocked_until <= ts:
                del self._buckets[key]


class RedisLoginThrottle:
    """The throttle shared by every instance: a sorted set of failure times per key and a
    ``block`` key holding the unblock time. If Redis fails, a per-process throttle stands in
    (a degraded limit beats none)."""

    def __init__(self, redis: Redis, policy: ThrottlePolicy) -> None:
        self.redis = redis
        self.policy = policy
        self.fallback = MemoryLoginThrottle(policy)

    async def blocked_for(self, keys: Sequence[str], now: datetime) -> int:
        try:
            values = await self.redis.mget([f"{PREFIX}block:{k}" for k in keys])
        except RedisError as exc:
            log.warning("login throttle read failed", extra={"error": str(exc)})
            return await self.fallback.blocked_for(keys, now)
        until = max((float(v) for v in values if v is not None), default=0.0)
        return max(0, math.ceil(until - now.timestamp()))

    async def record_failure(self, keys: Sequence[str], now: datetime) -> list[str]:
        try:
            return [key for key in keys if await self._fail(key, now.timestamp())]
        except RedisError as exc:
            log.warning("login throttle write failed", extra={"error": str(exc)})
            return await self.fallback.record_failure(keys, now)

    async def _fail(self, key: str, ts: float) -> bool:
        p = self.policy
        fails, block = f"{PREFIX}fail:{key}", f"{PREFIX}block:{key}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(fails, "-inf", ts - p.window_seconds)
            pipe.zadd(fails, {f"{ts}:{secrets.token_hex(4)}": ts})
            pipe.zcard(fails)
            pipe.expire(fails, p.window_seconds + p.block_seconds)
            pipe.get(block)
            _, _, count, _, current = await pipe.execute()
        if int(count) < p.max_failures or (current is not None and float(current) > ts):
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(block, str(ts + p.block_seconds), ex=p.block_seconds + p.window_seconds)
            pipe.delete(fails)
            await pipe.execute()
        return True

    async def clear(self, key: str) -> None:
        try:
            await self.redis.delete(f"{PREFIX}fail:{key}")
        except RedisError as exc:
            log.warning("login throttle clear failed", extra={"error": str(exc)})
        await self.fallback.clear(key)


def login_throttle_for(settings: Settings, redis: Redis | None) -> LoginThrottle:
    """Redis-backed when Redis is configured (limits hold across instances), else in memory."""
    policy = ThrottlePolicy.from_settings(settings)
    return RedisLoginThrottle(redis, policy) if redis is not None else MemoryLoginThrottle(policy)
