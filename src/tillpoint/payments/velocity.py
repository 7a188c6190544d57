"""Velocity checks: how many payment attempts one checkout, session, email or card made
within the window, against the configured limits. Counted from ``payment_attempts``,
so the limits hold across every app instance sharing the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tillpoint.config import Settings
from tillpoint.errors import RateLimited
from tillpoint.payments.models import PaymentAttempt


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


async def check_velocity(
    s: AsyncSession, settings: Settings, keys: AttemptKeys, now: datetime
) -> None:
    """Raise :class:`PaymentVelocityExceeded` (429) if one more attempt would exceed a limit.

    ``retry_after`` is when the oldest attempt counted leaves the window.
    """
    window = timedelta(seconds=settings.payment_velocity_window_seconds)
    since = now - window
    checked = [(scope, column == value, limit) for scope, column, value, limit in
               _limits(settings, keys) if value is not None]  # fmt: skip
    if not checked:
        return
    # Every scope counted in one SELECT (an aggregate per scope, FILTERed to its key).
    columns: list[Any] = []
    for _, match, _ in checked:
        columns += [
            func.count().filter(match),
            func.min(PaymentAttempt.created_at).filter(match),
        ]
    row = (
        await s.execute(
            select(*columns).where(
                PaymentAttempt.created_at > since, or_(*(match for _, match, _ in checked))
            )
        )
    ).one()
    for i, (scope, _, limit) in enumerate(checked):
        count, oldest = row[2 * i], row[2 * i + 1]
        if count >= limit:
            retry_after = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise PaymentVelocityExceeded(
                f"Too many payment attempts for this {scope}; try again later.",
                retry_after=retry_after,
                details={"scope": scope, "limit": limit},
            )
