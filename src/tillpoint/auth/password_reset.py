"""Password reset: ask for a link by e-mail, then set a new password with it.

Asking never says whether an account has the address: the answer is the same 202, and
the work is the same (a token is drawn and hashed, an audit row written) whether or not
one does; only an existing account gets a mail. Setting the password uses the link once,
applies the registration's password rules, and ends every session of the account on
every instance (the database rows, then the session cache's revocation markers).
"""

from __future__ import annotations

from sqlalchemy import select

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.auth import sessions
from tillpoint.auth.account_emails import queue_password_reset_email
from tillpoint.auth.account_tokens import (
    PASSWORD_RESET,
    account_token_id,
    check_account_token,
    invalid_token,
    issue_account_token,
    new_account_token,
    retire_account_tokens,
    use_account_token,
)
from tillpoint.auth.emails import email_fingerprint, normalize_email
from tillpoint.auth.mail_throttle import AccountMailThrottle
from tillpoint.auth.models import User
from tillpoint.auth.passwords import check_password_policy, hash_password
from tillpoint.runtime import Runtime


async def request_password_reset(
    rt: Runtime, throttle: AccountMailThrottle, *, email: str, actor: Actor
) -> None:
    """Mail a reset link if an active account has ``email``; nothing tells the caller
    whether one does. 422 ``invalid_email`` for a malformed address; 429
    ``too_many_email_requests`` past the mail limits (counted for every address alike)."""
    normalized = normalize_email(email)
    now = rt.clock.now()
    await throttle.take(kind="reset", email=normalized, ip=actor.ip_address, now=now)
    # Drawn and hashed either way, so an unknown address costs what a known one does.
    token = new_account_token()
    token_id = account_token_id(token)
    async with rt.db.transaction() as s:
        user = await s.scalar(select(User).where(User.email == normalized))
        known = user is not None and user.is_active
        if user is not None and known:
            await issue_account_token(
                s,
                token=token,
                user_id=user.id,
                purpose=PASSWORD_RESET,
                email=normalized,
                now=now,
                ttl=rt.settings.password_reset_ttl_seconds,
            )
            queue_password_reset_email(
                s, rt.settings, token=token, token_id=token_id, to=normalized, now=now
            )
        meta = {"email_sha256": email_fingerprint(normalized), "account": known}
        entity = user.id if user is not None else "unknown"
        await record(
            s,
            AuditEvent("password_reset_requested", "user", entity, "reset", meta),
            actor,
            now,
        )


async def confirm_password_reset(rt: Runtime, *, token: str, password: str, actor: Actor) -> int:
    """Set a new password with a reset link's token and end every session of the
    account; returns how many sessions ended. 422 ``token_invalid``, ``token_used`` or
    ``token_expired``; 422 ``weak_password`` (the link stays usable then)."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        valid = await check_account_token(s, token, PASSWORD_RESET, now)
    check_password_policy(rt.settings, password, email=valid.email)
    password_hash = await hash_password(rt.settings, password)
    async with rt.db.transaction() as s:
        user = await s.scalar(select(User).where(User.id == valid.user_id).with_for_update())
        if user is None or not user.is_active or user.email != valid.email:
            raise invalid_token()
        await use_account_token(s, valid, now)
        user.password_hash = password_hash
        # The mail reached its owner: the address is proven too.
        if user.email_verified_at is None:
            user.email_verified_at = now
        await retire_account_tokens(s, user_id=user.id, purpose=PASSWORD_RESET, now=now)
        ended = await sessions.revoke_user_sessions(rt, s, user.id, "password_reset")
        await record(
            s,
            AuditEvent(
                "password_reset_completed", "user", user.id, "reset", {"sessions": len(ended)}
            ),
            Actor(user_id=user.id, ip_address=actor.ip_address, user_agent=actor.user_agent),
            now,
        )
    await sessions.publish_revocation(rt, *ended)
    return len(ended)
