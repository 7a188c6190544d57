"""Login throttling (the seed's ``/api/auth/login``: 5 per 15 min, then 30 min blocked).

Failed attempts are counted per key: the account's email digest (``rate_limit_login``)
and the client address (``ip:`` keys, ``rate_limit_login_per_address``: a ceiling of its
own, 50 by default, so one address cannot spray a password over many accounts while a
crowd behind one address is not blocked by five typos). When a key reaches its failures
within its window it is blocked for ``block`` seconds, during which every attempt on it
is refused, even with the right password.

Each attempt takes its slot before the password is checked (``security/attempts.py``),
so however many guesses arrive at once, at most ``max_failures`` of them per key are
ever checked: the rest are refused while those are in flight, then by the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import limits
from redis.asyncio import Redis

from tillpoint.config import Settings
from tillpoint.security.attempts import Attempt, AttemptLimit, Attempts, attempts_for

PREFIX = "tp:login:"


ADDRESS_KEY = "ip:"


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int
    window_seconds: int
    block_seconds: int
    # The per-address ceiling (``ip:`` keys); None: the account's numbers.
    address_max_failures: int | None = None
    address_window_seconds: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        """The security settings' login limit: ``rate_limit_login`` ("5/15 minutes") counts
        failures, ``rate_limit_login_block_seconds`` is the block (one set of knobs for the
        one login limit)."""
        item = limits.parse(settings.rate_limit_login)
        address = limits.parse(settings.rate_limit_login_per_address)
        return cls(
            item.amount,
            item.get_expiry(),
            settings.rate_limit_login_block_seconds,
            address.amount,
            address.get_expiry(),
        )

    def on(self, key: str) -> AttemptLimit:
        if key.startswith(ADDRESS_KEY):
            return AttemptLimit(
                key,
                self.address_max_failures or self.max_failures,
                self.address_window_seconds or self.window_seconds,
                self.block_seconds,
            )
        return AttemptLimit(key, self.max_failures, self.window_seconds, self.block_seconds)


class LoginThrottle:
    """What the login and register use cases need: one policy over a store of attempts
    (Redis-backed when configured, so every instance shares the counts)."""

    def __init__(self, attempts: Attempts, policy: ThrottlePolicy) -> None:
        self.attempts = attempts
        self.policy = policy

    async def begin(self, keys: Sequence[str], now: datetime) -> Attempt:
        """Take a slot on every key before checking a password (or be refused)."""
        return await self.attempts.begin([self.policy.on(k) for k in keys], now)

    async def failed(self, attempt: Attempt, now: datetime) -> list[str]:
        """The check failed; returns the keys this failure blocked."""
        return await self.attempts.failed(attempt, now)

    async def release(self, attempt: Attempt, *, forget: Sequence[str] = ()) -> None:
        """The check did not fail; ``forget`` clears those keys' failures (a successful
        login clears its account key, not the IP's)."""
        await self.attempts.release(attempt, forget=forget)


def login_throttle_for(settings: Settings, redis: Redis | None) -> LoginThrottle:
    """Redis-backed when Redis is configured (limits hold across instances), else in memory."""
    return LoginThrottle(attempts_for(redis, PREFIX), ThrottlePolicy.from_settings(settings))
