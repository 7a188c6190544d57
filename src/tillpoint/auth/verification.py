"""E-mail verification: a link mailed at registration (and on request) marks the
account's address verified.

The mail goes through the outbox in the caller's unit of work, so an account and its
first verification mail commit together. A token is bound to the address it was sent to:
if the account's address has changed since, the link no longer verifies anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.auth.account_emails import queue_verification_email
from tillpoint.auth.account_tokens import (
    VERIFY_EMAIL,
    check_account_token,
    invalid_token,
    issue_account_token,
    new_account_token,
    use_account_token,
)
from tillpoint.auth.mail_throttle import AccountMailThrottle
from tillpoint.auth.models import User
from tillpoint.errors import Unauthorized
from tillpoint.runtime import Runtime


async def queue_verification(
    rt: Runtime, s: AsyncSession, *, user_id: str, email: str, now: datetime
) -> None:
    """Inside ``s``: issue a verification token and queue its mail (before any audit row:
    the audit head is the transaction's last lock)."""
    token = new_account_token()
    await issue_account_token(
        s,
        token=token,
        user_id=user_id,
        purpose=VERIFY_EMAIL,
        email=email,
        now=now,
        ttl=rt.settings.email_verification_ttl_seconds,
    )
    queue_verification_email(s, rt.settings, token=token, to=email, now=now)


async def resend_verification(
    rt: Runtime, throttle: AccountMailThrottle, *, user_id: str, actor: Actor
) -> bool:
    """Mail the signed-in user a new verification link; False (nothing sent) if the
    address is already verified. 429 ``too_many_email_requests`` past the mail limits."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        user = await s.get(User, user_id)
    if user is None:
        raise Unauthorized("Log in first.", code="login_required")
    if user.email_verified_at is not None:
        return False
    await throttle.take(kind="verify", email=user.email, ip=actor.ip_address, now=now)
    async with rt.db.transaction() as s:
        await queue_verification(rt, s, user_id=user.id, email=user.email, now=now)
        await record(
            s, AuditEvent("email_verification_sent", "user", user.id, "verify", {}), actor, now
        )
    return True


async def verify_email(rt: Runtime, *, token: str, actor: Actor) -> None:
    """Mark the address the token was mailed to verified. 422 ``token_invalid``,
    ``token_used`` or ``token_expired``; ``token_invalid`` too if the account's address
    is no longer the one the link was sent to."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        valid = await check_account_token(s, token, VERIFY_EMAIL, now)
        user = await s.scalar(select(User).where(User.id == valid.user_id).with_for_update())
        if user is None or user.email != valid.email:
            raise invalid_token()
        await use_account_token(s, valid, now)
        if user.email_verified_at is None:
            user.email_verified_at = now
        await record(
            s,
            AuditEvent("email_verified", "user", user.id, "verify", {}),
            Actor(
                user_id=user.id,
                session_id=actor.session_id,
                ip_address=actor.ip_address,
                user_agent=actor.user_agent,
            ),
            now,
        )
