"""Coupon-code guessing: failed codes are limited per session, customer and address.

A code that names no usable coupon (unknown, inactive, not yet or no longer valid) is a
failed attempt; right codes, and refusals about the cart (minimum not met, a clash with
the applied coupons, ...), never count. A key that fails ``N`` times within the window
(``coupon_attempts_per_session`` for a session and a logged-in customer,
``coupon_attempts_per_address`` for a client address) is blocked for
``coupon_attempts_block_seconds``: every code, the right one too, then answers 429
``coupon_attempts_exceeded``, so guessing cannot go on; the block is audited once.
Each attempt takes its slot before the code is looked up (``security/attempts.py``), so
concurrent guesses cannot pass the limit either, and on Redis every instance shares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import limits

from tillpoint.audit.events import SecurityEventType
from tillpoint.audit.service import Actor, log_security_event
from tillpoint.cart.coupons import apply_coupon
from tillpoint.cart.view import CartView
from tillpoint.config import Settings
from tillpoint.errors import RateLimited, TillpointError
from tillpoint.promotions.public import Reason
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import Attempt, AttemptLimit, Attempts

PREFIX = "tp:coupon:"
# Refusals that say the code itself is no good: what a guesser gets.
GUESS_CODES = frozenset(
    f"coupon_{reason.value}"
    for reason in (Reason.not_found, Reason.inactive, Reason.not_started, Reason.expired)
)
_SCOPES = {"session": "session", "customer": "customer", "ip": "address"}


class CouponAttemptsExceeded(RateLimited):
    code = "coupon_attempts_exceeded"


@dataclass(frozen=True, slots=True)
class GuessPolicy:
    per_session: int
    session_window: int
    per_address: int
    address_window: int
    block_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> GuessPolicy:
        session = limits.parse(settings.coupon_attempts_per_session)
        address = limits.parse(settings.coupon_attempts_per_address)
        return cls(
            session.amount,
            session.get_expiry(),
            address.amount,
            address.get_expiry(),
            settings.coupon_attempts_block_seconds,
        )

    def limits_for(self, actor: Actor) -> list[AttemptLimit]:
        """The keys one caller's codes count against."""
        out = []
        for key, value in (("session", actor.session_id), ("customer", actor.user_id)):
            if value:
                out.append(
                    AttemptLimit(
                        f"{key}:{value}", self.per_session, self.session_window, self.block_seconds
                    )
                )
        if actor.ip_address:
            out.append(
                AttemptLimit(
                    f"ip:{actor.ip_address}",
                    self.per_address,
                    self.address_window,
                    self.block_seconds,
                )
            )
        return out


async def apply_coupon_limited(
    rt: Runtime,
    attempts: Attempts,
    cart_id: str,
    code: str,
    *,
    actor: Actor,
    if_match: int | None = None,
) -> CartView:
    """:func:`~tillpoint.cart.coupons.apply_coupon`, counted against the caller's
    guessing limits: 429 ``coupon_attempts_exceeded`` (with ``retry_after``) while one of
    its keys is blocked or its slots are all in use."""
    policy = GuessPolicy.from_settings(rt.settings)
    attempt = await attempts.begin(policy.limits_for(actor), rt.clock.now())
    if not attempt.admitted:
        raise CouponAttemptsExceeded(
            "Too many coupon codes tried; try again later.",
            retry_after=attempt.retry_after,
            details={"retry_after": attempt.retry_after},
        )
    try:
        view = await apply_coupon(rt, cart_id, code, actor=actor, if_match=if_match)
    except TillpointError as exc:
        if exc.code not in GUESS_CODES:
            await attempts.release(attempt)
            raise
        await _count_failure(rt, attempts, attempt, cart_id, actor)
        raise
    except BaseException:
        await attempts.release(attempt)
        raise
    await attempts.release(attempt)
    return view


async def _count_failure(
    rt: Runtime, attempts: Attempts, attempt: Attempt, cart_id: str, actor: Actor
) -> None:
    """Count a failed code; the failure that blocks a key writes the one audit row."""
    blocked = await attempts.failed(attempt, rt.clock.now())
    if not blocked:
        return
    await log_security_event(
        rt,
        SecurityEventType.coupon_attempts_exceeded,
        actor=actor,
        entity_type="cart",
        entity_id=cart_id,
        metadata={
            "scopes": sorted(_SCOPES[key.split(":", 1)[0]] for key in blocked),
            "seconds": rt.settings.coupon_attempts_block_seconds,
        },
    )
