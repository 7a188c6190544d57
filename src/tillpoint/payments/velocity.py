"""Velocity checks: how many payment attempts one checkout, session, email or card made
within the window, against the configured limits. Counted from ``payment_attempts``,
so the limits hold across every app instance sharing the database.

The check and the count are one step per key: the caller checks and records the attempt
in one transaction, and that transaction first takes a lock per key it counts, held
until it commits (PostgreSQL: transaction advisory locks; SQLite: every transaction is
``BEGIN IMMEDIATE``, so writers already run one at a time). Concurrent attempts on one
key then queue, and each counts the attempts committed before it: ten at once against a
limit of four pass four, not ten. Only attempts sharing a key wait for each other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tillpoint.config import Settings
from tillpoint.errors import RateLimited
from tillpoint.payments.models import PaymentAttempt
from tillpoint.payments.queries import lock_counted_keys


@dataclass(frozen=True, slots=True)
class AttemptKeys:
    """What an attempt is counted by; ``None`` keys are not checked."""

    checkout_id: str
    session_id: str | None = None
    email: str | None = None
    card_fingerprint: str | None = None


class PaymentVelocityExceeded(RateLimited):
    code = "payment_velocity_exceeded"


def _limits(
    settings: Settings, keys: AttemptKeys
) -> list[tuple[str, InstrumentedAttribute[str | None], str | None, int]]:
    email = keys.email.strip().lower() if keys.email else None
    return [
        ("checkout", PaymentAttempt.checkout_id, keys.checkout_id,
         settings.payment_max_attempts_per_checkout),
        ("session", PaymentAttempt.session_id, keys.session_id,
         settings.payment_max_attempts_per_session),
        ("email", PaymentAttempt.email, email, settings.payment_max_attempts_per_email),
        ("card", PaymentAttempt.card_fingerprint, keys.card_fingerprint,
         settings.payment_max_attempts_per_card),
    ]  # fmt: skip


_COLUMNS = {
    "checkout": PaymentAttempt.checkout_id,
    "session": PaymentAttempt.session_id,
    "email": PaymentAttempt.email,
    "card": PaymentAttempt.card_fingerprint,
}


def _window(scope: str, since: Any) -> Any:
    """The scope's attempts in the window, oldest first, at most its limit of them: what
    decides is whether the limit is reached, so a card seen a million times costs no more
    to check than one seen ``limit`` times."""
    created = PaymentAttempt.created_at
    return (
        select(created.label("created_at"))
        .where(_COLUMNS[scope] == bindparam(scope), created > since)
        .order_by(created)
        .limit(bindparam(f"{scope}_limit", type_=Integer))
        .subquery()
    )


@functools.cache
def _counts(scopes: tuple[str, ...]) -> CompoundSelect[Any]:
    """Every scope counted in one statement: per scope, its row number, its attempts in
    the window (up to its limit) and the oldest of them (the key, window and limit bound
    by name). One range scan of the scope's (key, created_at) index each, under
    ``UNION ALL``: an ``OR`` of the scopes is planned as a scan of the whole table
    whenever PostgreSQL's statistics are missing or stale. Built once per set of scopes."""
    since: Any = bindparam("since")
    windows = [(i, _window(scope, since)) for i, scope in enumerate(scopes)]
    return union_all(
        *(
            select(literal(i), func.count(), func.min(w.c.created_at)).select_from(w)
            for i, w in windows
        )
    )


async def check_velocity(
    s: AsyncSession, settings: Settings, keys: AttemptKeys, now: datetime
) -> None:
    """Raise :class:`PaymentVelocityExceeded` (429) if one more attempt would exceed a limit.

    The caller records the attempt in the same transaction ``s``: the keys stay locked
    until it ends (see the module docstring). ``retry_after`` is when the oldest attempt
    counted leaves the window.
    """
    window = timedelta(seconds=settings.payment_velocity_window_seconds)
    since = now - window
    checked = [(scope, value, limit) for scope, _, value, limit in _limits(settings, keys)
               if value is not None]  # fmt: skip
    if not checked:
        return
    await lock_counted_keys(s, [(scope, value) for scope, value, _ in checked])
    statement = _counts(tuple(scope for scope, _, _ in checked))
    params: dict[str, Any] = {scope: value for scope, value, _ in checked}
    params |= {f"{scope}_limit": limit for scope, _, limit in checked}
    counted = {
        i: (count, oldest)
        for i, count, oldest in await s.execute(statement, {**params, "since": since})
    }
    for i, (scope, _, limit) in enumerate(checked):
        count, oldest = counted[i]
        if count >= limit:
            retry_after = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise PaymentVelocityExceeded(
                f"Too many payment attempts for this {scope}; try again later.",
                retry_after=retry_after,
                details={"scope": scope, "limit": limit},
            )
