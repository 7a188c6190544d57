"""Rate limits per the seed's RateLimitConfig, on the ``limits`` library (moving window).

Rules come from settings; each names the requests it applies to, how it keys callers,
whether only unsuccessful requests count (``skip_successful``, the seed's
``skipSuccessfulRequests``) and how long a caller who trips it stays blocked.

The seed's rules (global, checkout, create-intent) are budgets *per session*: shoppers
behind one office or carrier NAT share an address, not a budget. A request without a
session cookie has no session budget. What stops a flood from one address, whatever
sessions (real or made up) it sends, is the ``address`` rule: a ceiling per client
address, far above what a crowd of real shoppers behind one address sends (its setting
says why), counted first so a refused flood adds no further counters.

Counters live in Redis when configured, so every instance shares them, and in process
memory otherwise; if Redis fails mid-flight we fall back to the in-memory counters
rather than fail the request.

A skip-successful rule (create-intent: only unsuccessful requests count) cannot count
after the answer alone: requests checked at once all find room and all run. So such a
request takes a slot first (``security/attempts.py``: failures plus requests in flight
must stay under the limit, in one atomic step), then its slot becomes a failure (an
answer >= 400) or is given back (:meth:`RateLimiter.admit`, :meth:`RateLimiter.settle`).

Counter keys leave the amount out, so the adaptive shrink changes the limit a caller is
held to without resetting what they already used.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool, Redis
from redis.commands.core import AsyncScript

from tillpoint.config import Settings
from tillpoint.security.attempts import Attempt, AttemptLimit, attempts_for
from tillpoint.security.load import LoadMonitor

log = logging.getLogger(__name__)
T = TypeVar("T")

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


# ``limits``' moving window (acquire_moving_window.lua, then moving_window.lua) for
# several keys in one script: same lists, same keys (``rl:`` prefix), same answers.
# KEYS: the counted keys, then keys only read. ARGV: now, how many keys are counted, then
# (limit, expiry) per counted key. Returns {{allowed, oldest, count} per counted key, up to
# the first refused (as the one-by-one checks, which stop there); the read keys' values}.
_HIT_AND_STATS = """
local now = tonumber(ARGV[1])
local counted = tonumber(ARGV[2])
local out = {}
for i = 1, counted do
    local key = KEYS[i]
    local limit = tonumber(ARGV[2 * i + 1])
    local expiry = tonumber(ARGV[2 * i + 2])
    local allowed = 0
    if limit >= 1 then
        local entry = redis.call('lindex', key, limit - 1)
        if not (entry and tonumber(entry) >= now - expiry) then
            redis.call('lpush', key, now)
            redis.call('ltrim', key, 0, limit - 1)
            redis.call('expire', key, expiry)
            allowed = 1
        end
    end
    local low, high, found = 0, limit - 1, nil
    while low <= high do
        local mid = math.floor((low + high) / 2)
        local val = tonumber(redis.call('lindex', key, mid))
        if val and val >= now - expiry then
            found = mid
            low = mid + 1
        else
            high = mid - 1
        end
    end
    if found then
        out[i] = {allowed, tostring(redis.call('lindex', key, found)), found + 1}
    else
        out[i] = {allowed, tostring(now), 0}
    end
    if allowed == 0 then
        break
    end
end
local reads = {}
if #KEYS > counted then
    reads = redis.call('mget', unpack(KEYS, counted + 1))
end
return {out, reads}
"""


# One audit row per key and period, the others counted: KEYS[1] the period's gate, KEYS[2]
# how many were left out since the last row. ARGV[1]: the period in seconds. Returns -1 to
# leave this one out (counted), else how many were left out before it.
_AUDIT_GATE = """
if redis.call('set', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    local skipped = tonumber(redis.call('get', KEYS[2]) or '0')
    redis.call('del', KEYS[2])
    return skipped
end
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], 86400)
return -1
"""


class _Window(limits.RateLimitItemPerSecond):
    """A moving window of ``multiples`` seconds whose key leaves the amount out."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return "/".join([self.namespace, *(str(i) for i in identifiers)])


@dataclass(frozen=True, slots=True)
class LimitRule:
    """One configured limit: ``amount`` requests per ``window_seconds``."""

    name: str
    amount: int
    window_seconds: int
    by_session: bool = False  # keyed by the session (else by the client address)
    skip_successful: bool = False
    block_seconds: int = 0

    @classmethod
    def parse(cls, name: str, notation: str, **options: bool | int) -> LimitRule:
        item = limits.parse(notation)
        return cls(name, item.amount, item.get_expiry(), **options)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LimitState:
    """Where one caller stands against one rule after this request."""

    rule: str
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a slot (or the block ends)
    allowed: bool
    blocked: bool = False


def rules_from_settings(settings: Settings) -> dict[str, LimitRule]:
    """The seed's table, with the numbers from settings. The seed's login row
    (``rate_limit_login`` and its block) is enforced by the login use case itself
    (``auth/throttle.py``), which counts failures per account as well as per IP."""
    return {
        "address": LimitRule.parse("address", settings.rate_limit_per_address),
        "global": LimitRule.parse("global", settings.rate_limit_global, by_session=True),
        "checkout": LimitRule.parse("checkout", settings.rate_limit_checkout, by_session=True),
        "create_intent": LimitRule.parse(
            "create_intent",
            settings.rate_limit_create_intent,
            by_session=True,
            skip_successful=True,
        ),
    }


def rules_for_request(rules: dict[str, LimitRule], method: str, path: str) -> list[LimitRule]:
    """The rules a request counts against: the address ceiling first, then the session's
    rules, most specific first (global last)."""
    if path in OPS_PATHS:
        return []
    matched: list[LimitRule] = [rules["address"]]
    if path == "/api/checkout" or path.startswith("/api/checkout/"):
        matched.append(rules["checkout"])
    elif path == "/api/payment/create-intent":
        matched.append(rules["create_intent"])
    matched.append(rules["global"])
    return matched


def wait_words(seconds: int) -> str:
    """``1`` -> "1 second", ``42`` -> "42 seconds", ``300`` -> "5 minutes" (rounded up)."""
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def redis_storage_uri(redis_url: str) -> str:
    """``redis://h/0`` -> ``async+redis://h/0`` (the scheme the limits async storage wants)."""
    return redis_url if redis_url.startswith("async+") else f"async+{redis_url}"


class RateLimiter:
    """Counts hits per (rule, key) and answers where a caller stands.

    Public API for other features (e.g. the per-account login throttle):
    :meth:`consume`, :meth:`peek`, :meth:`reset`, :meth:`once`.
    """

    def __init__(
        self,
        rules: dict[str, LimitRule],
        monitor: LoadMonitor,
        *,
        redis: Redis | None = None,
        enabled: bool = True,
        pool_size: int = 32,
        pool_timeout: float = 0.2,
    ) -> None:
        self.rules = rules
        self.monitor = monitor
        self.enabled = enabled
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._pool: BlockingConnectionPool | None = None
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._warned_at = 0.0
        if redis is not None:
            # The same server as the runtime's client, through a pool of our own.
            base = redis.connection_pool
            self._pool = BlockingConnectionPool(
                connection_class=base.connection_class,
                max_connections=pool_size,
                timeout=pool_timeout,
                **base.connection_kwargs,
            )
            self._redis = Redis(connection_pool=self._pool)
            storage: Storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix="rl",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        # Skip-successful rules: slots taken before the request (see the module docstring).
        self._slots = attempts_for(self._redis, "rl-slots:")
        self._gate: AsyncScript | None = None
        self._gates: dict[str, tuple[float, int]] = {}  # in memory: key -> (until, left out)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, redis: Redis | None, monitor: LoadMonitor | None = None
    ) -> RateLimiter:
        monitor = monitor or LoadMonitor(
            in_flight_threshold=settings.rate_limit_adaptive_in_flight,
            lag_threshold_ms=settings.rate_limit_adaptive_lag_ms,
            surge_multiplier=settings.rate_limit_surge_multiplier,
            enabled=settings.rate_limit_adaptive,
        )
        return cls(
            rules_from_settings(settings),
            monitor,
            redis=redis,
            enabled=settings.rate_limit_enabled,
            pool_size=settings.rate_limit_redis_pool_size,
            pool_timeout=settings.rate_limit_redis_pool_timeout_seconds,
        )

    async def aclose(self) -> None:
        """Close the limiter's Redis connections (app shutdown)."""
        if self._pool is not None:
            await self._pool.disconnect()

    @property
    def shared(self) -> bool:
        """True when counters live in Redis (shared by every instance)."""
        return self._shared is not None

    async def _run(self, op: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self._shared is not None:
            try:
                return await op(self._shared)
            except Exception as exc:  # Redis down, slow or pool busy: per-instance limits
                self._warn(exc)
        return await op(self._memory)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10:  # a burst logs once, not once per request
            self._warned_at = now
            log.warning("rate limit storage failed, using in-memory counters: %s", exc)

    def _window(self, rule: LimitRule) -> _Window:
        return _Window(self.monitor.scaled(rule.amount), rule.window_seconds, namespace=rule.name)

    def _block(self, rule: LimitRule) -> _Window:
        return _Window(1, rule.block_seconds, namespace=f"{rule.name}-block")

    async def _state(self, rule: LimitRule, key: str, allowed: bool) -> LimitState:
        window = self._window(rule)
        stats = await self._run(lambda lim: lim.get_window_stats(window, key))
        remaining = max(stats.remaining, 0)
        reset_after = max(math.ceil(stats.reset_time - time.time()), 0)
        if not allowed:
            reset_after = max(reset_after, 1)
        return LimitState(rule.name, window.amount, remaining, reset_after, allowed)

    async def _blocked(self, rule: LimitRule, key: str) -> LimitState | None:
        if rule.block_seconds <= 0:
            return None
        block = self._block(rule)
        if await self._run(lambda lim: lim.test(block, key)):
            return None
        stats = await self._run(lambda lim: lim.get_window_stats(block, key))
        reset_after = max(math.ceil(stats.reset_time - time.time()), 1)
        limit = self.monitor.scaled(rule.amount)
        return LimitState(rule.name, limit, 0, reset_after, allowed=False, blocked=True)

    async def consume(self, rule_name: str, key: str) -> LimitState:
        """Count one request by ``key`` against the rule; ``allowed`` is False once over the
        limit (which also starts the rule's block, if it has one)."""
        rule = self.rules[rule_name]
        if (blocked := await self._blocked(rule, key)) is not None:
            return blocked
        window = self._window(rule)
        allowed = await self._run(lambda lim: lim.hit(window, key))
        if not allowed and rule.block_seconds > 0:
            block = self._block(rule)
            await self._run(lambda lim: lim.hit(block, key))
            limit = window.amount
            return LimitState(rule.name, limit, 0, rule.block_seconds, allowed=False, blocked=True)
        return await self._state(rule, key, allowed)

    async def consume_many(self, pairs: list[tuple[str, str]]) -> list[LimitState]:
        """:meth:`consume` for (rule, key) pairs in order, up to the first refused one; in
        one Redis round trip when every rule is a plain window (no block): the request path
        counts 1-3 of them each time."""
        states, _ = await self.consume_many_and_read(pairs, [])
        return states

    async def consume_many_and_read(
        self, pairs: list[tuple[str, str]], read: list[str]
    ) -> tuple[list[LimitState], dict[str, bytes | None] | None]:
        """:meth:`consume_many`, and in the same round trip the values of the Redis keys
        ``read`` (so a request that needs them pays one round trip, not two); None for the
        values when they could not be read with the counts (no Redis, a rule with a block,
        a Redis failure)."""
        rules = [self.rules[name] for name, _ in pairs]
        if self._shared is None or any(r.block_seconds > 0 for r in rules):
            return await self._consume_each(pairs), None
        windows = [self._window(rule) for rule in rules]
        keys = [f"rl:{w.key_for(key)}" for w, (_, key) in zip(windows, pairs, strict=True)]
        args: list[float | int] = [time.time(), len(keys)]
        for w in windows:
            args += [w.amount, w.get_expiry()]
        try:
            if self._script is None:
                self._script = self._redis.register_script(_HIT_AND_STATS)  # type: ignore[union-attr]
            answers, values = await self._script(keys=[*keys, *read], args=args)
        except Exception as exc:  # Redis down, slow or pool busy: per-instance limits
            self._warn(exc)
            return await self._consume_each(pairs), None
        read_values = dict(zip(read, values, strict=False)) if len(values) == len(read) else None
        return self._states(rules, windows, answers), read_values

    def _states(
        self, rules: list[LimitRule], windows: list[_Window], answers: list[Any]
    ) -> list[LimitState]:
        now = time.time()
        states = []
        for rule, w, (allowed, oldest, count) in zip(rules, windows, answers, strict=False):
            reset_after = max(math.ceil(float(oldest) + w.get_expiry() - now), 0)
            if not allowed:
                reset_after = max(reset_after, 1)
            remaining = max(w.amount - int(count), 0)
            states.append(LimitState(rule.name, w.amount, remaining, reset_after, bool(allowed)))
        return states

    async def _consume_each(self, pairs: list[tuple[str, str]]) -> list[LimitState]:
        states = []
        for name, key in pairs:
            states.append(await self.consume(name, key))
            if not states[-1].allowed:
                break
        return states

    def _slot_limit(self, rule: LimitRule, key: str) -> AttemptLimit:
        amount = self.monitor.scaled(rule.amount)
        return AttemptLimit(f"{rule.name}:{key}", amount, rule.window_seconds, rule.block_seconds)

    async def admit(self, rule_name: str, key: str) -> tuple[LimitState, Attempt]:
        """A skip-successful rule: take a slot for this request, atomically, or be refused
        (its failures and the requests in flight fill the limit). Settle the slot with
        :meth:`settle` when the answer is known."""
        rule = self.rules[rule_name]
        limit = self._slot_limit(rule, key)
        attempt = await self._slots.begin([limit], datetime.now(UTC))
        if not attempt.admitted:
            state = LimitState(
                rule.name, limit.max_failures, 0, attempt.retry_after, False, attempt.blocked
            )
            return state, attempt
        remaining = max(limit.max_failures - attempt.used - 1, 0)
        return LimitState(
            rule.name, limit.max_failures, remaining, rule.window_seconds, True
        ), attempt

    async def settle(self, attempt: Attempt, *, failed: bool) -> LimitState:
        """The request behind a slot ended: a failure counts, anything else gives it back.
        Where the caller stands now (as far as this request can tell)."""
        limit = attempt.limits[0]
        if failed:
            await self._slots.failed(attempt, datetime.now(UTC))
        else:
            await self._slots.release(attempt)
        used = attempt.used + (1 if failed else 0)
        rule = limit.key.split(":", 1)[0]
        remaining = max(limit.max_failures - used, 0)
        return LimitState(rule, limit.max_failures, remaining, limit.window_seconds, True)

    async def peek(self, rule_name: str, key: str) -> LimitState:
        """Where ``key`` stands without counting this request (for skip-successful rules)."""
        rule = self.rules[rule_name]
        if (blocked := await self._blocked(rule, key)) is not None:
            return blocked
        window = self._window(rule)
        allowed = await self._run(lambda lim: lim.test(window, key))
        return await self._state(rule, key, allowed)

    async def reset(self, rule_name: str, key: str) -> None:
        """Forget a key's count and block for a rule (e.g. after an admin unlock)."""
        rule = self.rules[rule_name]
        window, block = self._window(rule), self._block(rule)
        await self._run(lambda lim: lim.clear(window, key))
        if rule.block_seconds > 0:
            await self._run(lambda lim: lim.clear(block, key))

    async def consume_limit(self, name: str, notation: str, key: str) -> LimitState:
        """Count one use by ``key`` of a feature's own limit (``"N/M unit"``, not one of
        the request rules), atomically, in the shared store; ``allowed`` is False once
        over it (e.g. waitlist joins per session)."""
        rule = LimitRule.parse(name, notation)
        window = self._window(rule)
        allowed = await self._run(lambda lim: lim.hit(window, key))
        return await self._state(rule, key, allowed)

    async def audit_gate(self, namespace: str, key: str, seconds: int) -> int | None:
        """Whether to write an audit row for ``(namespace, key)`` now: the first time in
        each ``seconds``, the answer is how many were left out since the last row written
        (for the row to say); otherwise None, and this one is counted as left out. A flood
        then writes one row per key and period, and the rows still add up to the flood."""
        name = f"{namespace}:{key}"
        if self._redis is not None:
            try:
                if self._gate is None:
                    self._gate = self._redis.register_script(_AUDIT_GATE)
                skipped = int(
                    await self._gate(keys=[f"audit-gate:{name}", f"audit-left-out:{name}"],
                                     args=[max(seconds, 1)])
                )  # fmt: skip
                return None if skipped < 0 else skipped
            except Exception as exc:  # Redis down, slow or pool busy: this process's gate
                self._warn(exc)
        return self._memory_gate(name, seconds)

    def _memory_gate(self, name: str, seconds: int) -> int | None:
        now = time.time()
        if len(self._gates) > 10_000:  # drop closed gates with nothing left out
            self._gates = {k: v for k, v in self._gates.items() if v[0] > now or v[1]}
        until, skipped = self._gates.get(name, (0.0, 0))
        if until > now:
            self._gates[name] = (until, skipped + 1)
            return None
        self._gates[name] = (now + max(seconds, 1), 0)
        return skipped

    async def once(self, namespace: str, key: str, seconds: int) -> bool:
        """True the first time ``(namespace, key)`` is seen within ``seconds`` (so a flood of
        429s writes one audit row per window, not thousands)."""
        window = _Window(1, max(seconds, 1), namespace=namespace)
        return await self._run(lambda lim: lim.hit(window, key))
