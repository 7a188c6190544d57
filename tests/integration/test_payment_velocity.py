"""Velocity checks count payment attempts per checkout, session, email and card in the window."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import MovableClock
from tillpoint.payments.attempts import record_attempt
from tillpoint.payments.gateway import IntentStatus, PaymentIntentResult
from tillpoint.payments.models import PaymentAttempt
from tillpoint.payments.velocity import AttemptKeys, PaymentVelocityExceeded, check_velocity
from tillpoint.runtime import Runtime


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "payment_velocity_window_seconds": 600,
        "payment_max_attempts_per_checkout": 3,
        "payment_max_attempts_per_session": 4,
        "payment_max_attempts_per_email": 5,
        "payment_max_attempts_per_card": 2,
    }


def _intent(n: int, fingerprint: str | None = None) -> PaymentIntentResult:
    return PaymentIntentResult(
        id=f"pi_{n}", status=IntentStatus.requires_payment_method, amount=100, currency="USD",
        client_secret=None, card_fingerprint=fingerprint, decline_code="card_declined",
    )  # fmt: skip


_n = 0


async def _attempt(rt: Runtime, keys: AttemptKeys, fingerprint: str | None = None) -> None:
    global _n
    _n += 1
    async with rt.db.transaction() as s:
        await check_velocity(s, rt.settings, keys, rt.clock.now())
        await record_attempt(
            s, keys=keys, gateway="sandbox", intent=_intent(_n, fingerprint), now=rt.clock.now()
        )


async def _refused(rt: Runtime, keys: AttemptKeys) -> PaymentVelocityExceeded:
    with pytest.raises(PaymentVelocityExceeded) as err:
        async with rt.db.transaction() as s:
            await check_velocity(s, rt.settings, keys, rt.clock.now())
    return err.value


async def test_fourth_attempt_on_one_checkout_is_refused_until_the_window_passes(
    rt: Runtime, clock: MovableClock
) -> None:
    keys = AttemptKeys("chk_a", session_id="s1")
    for _ in range(3):
        await _attempt(rt, keys)
        clock.advance(seconds=60)
    err = await _refused(rt, keys)
    assert err.status == 429 and err.details["scope"] == "checkout"
    # The first attempt (at t=0) leaves the 600 s window at t=600; now is t=180.
    assert 400 <= err.retry_after <= 421
    clock.advance(seconds=421)
    await _attempt(rt, keys)


async def test_session_limit_spans_checkouts(rt: Runtime) -> None:
    for n in range(4):
        await _attempt(rt, AttemptKeys(f"chk_s{n}", session_id="s2"))
    err = await _refused(rt, AttemptKeys("chk_s9", session_id="s2"))
    assert err.details["scope"] == "session"
    async with rt.db.transaction() as s:  # another session is unaffected
        await check_velocity(s, rt.settings, AttemptKeys("chk_s9", session_id="s3"), rt.clock.now())


async def test_email_limit_ignores_case(rt: Runtime) -> None:
    for n in range(5):
        email = "Ada@Example.com" if n % 2 else "ada@example.com"
        await _attempt(rt, AttemptKeys(f"chk_e{n}", session_id=f"se{n}", email=email))
    err = await _refused(rt, AttemptKeys("chk_e9", session_id="new", email="ADA@example.COM"))
    assert err.details["scope"] == "email"


async def test_card_fingerprint_limit_spans_sessions_and_emails(rt: Runtime) -> None:
    for n in range(2):
        await _attempt(rt, AttemptKeys(f"chk_c{n}", session_id=f"sc{n}"), fingerprint="fpCARD")
    err = await _refused(rt, AttemptKeys("chk_c9", session_id="x", card_fingerprint="fpCARD"))
    assert err.details["scope"] == "card"


async def _attempt_slowly(rt: Runtime, keys: AttemptKeys, n: int) -> bool:
    """One attempt whose gateway call takes a while between the check and the insert
    (as CONFIRM_ORDER's create_payment_intent does); False if the check refused it."""
    try:
        async with rt.db.transaction() as s:
            await check_velocity(s, rt.settings, keys, rt.clock.now())
            await asyncio.sleep(0.05)
            await record_attempt(
                s, keys=keys, gateway="sandbox", intent=_intent(1000 + n), now=rt.clock.now()
            )
    except PaymentVelocityExceeded:
        return False
    return True


@pytest.mark.parametrize("scope", ["session", "email", "card"])
async def test_concurrent_attempts_never_pass_the_limit(rt: Runtime, scope: str) -> None:
    """Ten attempts at once on one session (limit 4), email (5) or card (2), each from its
    own checkout: exactly the limit go through, the rest are refused."""
    limit = {"session": 4, "email": 5, "card": 2}[scope]

    def keys(n: int) -> AttemptKeys:
        shared = {"session": {"session_id": "s-race"}, "email": {"email": "race@example.com"},
                  "card": {"card_fingerprint": "fpRACE"}}[scope]  # fmt: skip
        return AttemptKeys(f"chk_race{n}", **{"session_id": f"sr{n}", **shared})

    passed = await asyncio.gather(*(_attempt_slowly(rt, keys(n), n) for n in range(10)))
    assert sum(passed) == limit
    async with rt.db.transaction() as s:
        recorded = await s.scalar(select(func.count()).select_from(PaymentAttempt))
    assert recorded == limit
