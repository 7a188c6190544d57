"""Single-use tokens mailed to a user: password reset and e-mail verification.

A token is 256 random bits (``secrets.token_urlsafe(32)``); only its SHA-256 is stored,
so a leaked table opens nothing. A token works once, until ``expires_at``, and only for
its ``purpose``; issuing a new one retires the user's earlier unused ones of that purpose
(the newest mail is the one that works). Using a token is one conditional ``UPDATE``
(``used_at IS NULL``), so of two concurrent uses exactly one wins on either database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.auth.models import AccountToken
from tillpoint.errors import FieldError, InvalidInput
from tillpoint.runtime import Runtime

Purpose = Literal["password_reset", "verify_email"]
PASSWORD_RESET: Purpose = "password_reset"
VERIFY_EMAIL: Purpose = "verify_email"
# Longer than any token we issue; anything longer is not ours and is not hashed.
MAX_TOKEN_LENGTH = 128


def new_account_token() -> str:
    return secrets.token_urlsafe(32)


def account_token_id(token: str) -> str:
    """What the database keeps of a token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A presented token that is this purpose's, unused and unexpired."""

    id: str
    user_id: str
    email: str


async def issue_account_token(
    s: AsyncSession,
    *,
    token: str,
    user_id: str,
    purpose: Purpose,
    email: str,
    now: datetime,
    ttl: int,
) -> None:
    """Inside ``s``: store ``token`` (a :func:`new_account_token`, hashed) for ``user_id``;
    the user's earlier unused tokens of this purpose stop working."""
    await retire_account_tokens(s, user_id=user_id, purpose=purpose, now=now)
    s.add(
        AccountToken(
            id=account_token_id(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            expires_at=now + timedelta(seconds=ttl),
            created_at=now,
        )
    )
    await s.flush()


def _refusal(code: str, message: str) -> InvalidInput:
    # 422, not 400: the request is well formed; the token fails a rule (the house keeps
    # 400 for malformed requests, and the API fuzz test holds it to that).
    return InvalidInput(message, code=code, fields=[FieldError(("token",), code, message)])


def invalid_token() -> InvalidInput:
    """422 ``token_invalid``: the link is not (or no longer) one we can honour."""
    return _refusal("token_invalid", "This link is not valid. Ask for a new one.")


async def check_account_token(
    s: AsyncSession, token: str, purpose: Purpose, now: datetime
) -> ValidToken:
    """The token's owner if it can be used now; 422 ``token_invalid`` (unknown, or
    another purpose's), ``token_used`` or ``token_expired`` otherwise."""
    row = None
    if 0 < len(token) <= MAX_TOKEN_LENGTH:
        row = await s.scalar(select(AccountToken).where(AccountToken.id == account_token_id(token)))
    if row is None or row.purpose != purpose:
        raise invalid_token()
    if row.used_at is not None:
        raise _refusal("token_used", "This link has already been used. Ask for a new one.")
    if row.expires_at <= now:
        raise _refusal("token_expired", "This link has expired. Ask for a new one.")
    return ValidToken(id=row.id, user_id=row.user_id, email=row.email)


async def use_account_token(s: AsyncSession, valid: ValidToken, now: datetime) -> None:
    """Inside ``s``: mark the token used, or 422 ``token_used`` if a concurrent request
    used it first."""
    result = await s.execute(
        update(AccountToken)
        .where(AccountToken.id == valid.id, AccountToken.used_at.is_(None))
        .values(used_at=now)
    )
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        raise _refusal("token_used", "This link has already been used. Ask for a new one.")


async def retire_account_tokens(
    s: AsyncSession, *, user_id: str, purpose: Purpose, now: datetime
) -> None:
    """Inside ``s``: every unused token of ``purpose`` the user holds stops working."""
    await s.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


async def delete_stale_account_tokens(rt: Runtime) -> int:
    """The sweeper's job: drop tokens that can no longer be used (expired, or used more
    than a day ago); returns how many."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        result = await s.execute(
            delete(AccountToken).where(
                or_(
                    AccountToken.expires_at <= now,
                    AccountToken.used_at <= now - timedelta(days=1),
                )
            )
        )
    return result.rowcount if isinstance(result, CursorResult) else 0
