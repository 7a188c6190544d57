"""How often the shop mails account links: per address asked for, and per client IP.

Every request counts (each may send a mail), on the shared failed-attempt store
(``security/attempts.py``, Redis-backed when configured) as a moving window: a limit
with no block. The e-mail key is a digest of the address, the same whether or not an
account has it, so the limit reveals nothing about accounts.
"""

from __future__ import annotations

from datetime import datetime

import limits
from redis.asyncio import Redis

from tillpoint.auth.emails import email_fingerprint
from tillpoint.config import Settings
from tillpoint.errors import RateLimited
from tillpoint.security.attempts import AttemptLimit, Attempts, attempts_for

PREFIX = "tp:acctmail:"


class AccountMailThrottle:
    """``rate_limit_account_email`` per address, ``…_per_address`` per client IP."""

    def __init__(self, attempts: Attempts, settings: Settings) -> None:
        self.attempts = attempts
        self.per_email = limits.parse(settings.rate_limit_account_email)
        self.per_ip = limits.parse(settings.rate_limit_account_email_per_address)

    def _limits(self, kind: str, email: str, ip: str | None) -> list[AttemptLimit]:
        found = [
            AttemptLimit(
                f"{kind}:{email_fingerprint(email)}",
                self.per_email.amount,
                self.per_email.get_expiry(),
                0,
            )
        ]
        if ip:
            found.append(AttemptLimit(f"ip:{ip}", self.per_ip.amount, self.per_ip.get_expiry(), 0))
        return found

    async def take(self, *, kind: str, email: str, ip: str | None, now: datetime) -> None:
        """Count one request for ``kind`` of mail to ``email`` from ``ip``, or 429
        ``too_many_email_requests`` (with ``retry_after``) when a limit is reached."""
        attempt = await self.attempts.begin(self._limits(kind, email, ip), now)
        if not attempt.admitted:
            raise RateLimited(
                "Too many requests for this e-mail address; try again later.",
                code="too_many_email_requests",
                retry_after=attempt.retry_after,
                details={"retry_after": attempt.retry_after},
            )
        await self.attempts.failed(attempt, now)  # every request counts


def account_mail_throttle_for(settings: Settings, redis: Redis | None) -> AccountMailThrottle:
    return AccountMailThrottle(attempts_for(redis, PREFIX), settings)
