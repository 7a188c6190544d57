"""Registered sessions: open one at login, resolve it per request, slide it, rotate its
refresh token, revoke it (one session, or all of a user's).

The session cookie holds a random token whose SHA-256 is the row id (as for guests;
the CSRF token is bound to that id). Registered tokens start with ``u.`` so a request
goes straight to the right table. A request also needs a live access JWT naming this
session; when it has expired the client exchanges its refresh token at
``POST /api/auth/refresh``. One session is one refresh-token family: presenting a
token that was already exchanged revokes the session (someone else has a copy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.auth import session_cache
from tillpoint.auth.models import RefreshToken, RegisteredSession, User
from tillpoint.auth.queries import claim_stale
from tillpoint.auth.session_cache import REVOKED, LiveSession
from tillpoint.auth.session_context import SessionContext
from tillpoint.auth.tokens import (
    AccessTokenError,
    new_refresh_token,
    new_session_token,
    read_access_token,
    refresh_token_id,
    session_id_for,
)
from tillpoint.config import RefreshPolicy
from tillpoint.errors import Unauthorized
from tillpoint.runtime import Runtime
from tillpoint.security.scrub import scrub_text

REGISTERED_PREFIX = "u."
# Extend expiry at most this often, so reads do not write on every request.
_SLIDE_GRANULARITY = timedelta(minutes=10)
# Revoked sessions are kept a day so a late refresh still reads as reuse, then swept.
_KEEP_REVOKED = timedelta(days=1)


def is_registered_token(token: str) -> bool:
    return token.startswith(REGISTERED_PREFIX)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new registered session: the cookie token, the first refresh token, the session."""

    token: str
    refresh_token: str
    live: LiveSession


def _live(row: RegisteredSession, role: str) -> LiveSession:
    return LiveSession(
        session_id=row.id,
        user_id=row.user_id,
        role=role,
        cart_id=row.cart_id,
        expires_at=row.expires_at,
        absolute_expires_at=row.absolute_expires_at,
    )


def _slid_expiry(rt: Runtime, current: datetime, absolute: datetime, now: datetime) -> datetime:
    """The expiry after activity at ``now`` under the configured refresh policy."""
    if rt.settings.session_refresh_policy == RefreshPolicy.fixed:
        return current
    return min(now + timedelta(seconds=rt.settings.session_ttl_seconds), absolute)


async def open_session(
    rt: Runtime,
    s: AsyncSession,
    *,
    user: User,
    cart_id: str,
    ip_address: str | None,
    user_agent: str | None,
    checkout_data: dict[str, Any] | None = None,
) -> OpenedSession:
    """Add a new registered session and its first refresh token to the unit of work ``s``.
    Always a fresh token: a login never keeps the session id the caller came with."""
    now = rt.clock.now()
    token = REGISTERED_PREFIX + new_session_token()
    absolute = now + timedelta(seconds=rt.settings.session_max_lifetime_seconds)
    row = RegisteredSession(
        id=session_id_for(token),
        user_id=user.id,
        cart_id=cart_id,
        checkout_data=checkout_data,
        expires_at=min(now + timedelta(seconds=rt.settings.session_ttl_seconds), absolute),
        absolute_expires_at=absolute,
        ip_address=ip_address or None,
        user_agent=scrub_text(user_agent or "")[:512] or None,
    )
    s.add(row)
    await s.flush()  # the session row first: its refresh token references it
    refresh = new_refresh_token()
    s.add(RefreshToken(id=refresh_token_id(refresh), session_id=row.id, issued_at=now))
    await s.flush()
    return OpenedSession(token=token, refresh_token=refresh, live=_live(row, user.role))


async def _load(
    rt: Runtime, session_id: str, prefetched: Mapping[str, bytes | None] | None = None
) -> LiveSession | None:
    """The live session ``session_id`` (cache, then database), slid forward; None if it
    does not exist, expired or was revoked."""
    now = rt.clock.now()
    hit = await session_cache.cached(rt, session_id, prefetched)
    if hit is REVOKED:
        return None
    live = hit
    if live is None:
        async with rt.db.transaction() as s:
            found = (
                await s.execute(
                    select(RegisteredSession, User.role, User.is_active)
                    .join(User, User.id == RegisteredSession.user_id)
                    .where(RegisteredSession.id == session_id)
                )
            ).first()
        if found is None:
            return None
        row, role, active = found
        if row.revoked_at is not None or not active:
            return None
        live = _live(row, role)
    if live.expires_at <= now:
        return None
    new_expiry = _slid_expiry(rt, live.expires_at, live.absolute_expires_at, now)
    if new_expiry - live.expires_at >= _SLIDE_GRANULARITY:
        async with rt.db.transaction() as s:
            await s.execute(
                update(RegisteredSession)
                .where(RegisteredSession.id == session_id, RegisteredSession.revoked_at.is_(None))
                .values(expires_at=new_expiry, updated_at=now)
            )
        live = dataclasses.replace(live, expires_at=new_expiry)
        await session_cache.store(rt, live)
    elif hit is None:
        await session_cache.store(rt, live)
    return live


async def load_session(
    rt: Runtime, token: str, *, prefetched: Mapping[str, bytes | None] | None = None
) -> LiveSession | None:
    """The live registered session a cookie token opens (sliding it), or None.
    ``prefetched``: the session cache's keys (``session_cache.keys_for``) if the request
    read them at its start."""
    if not is_registered_token(token) or len(token) > 128:
        return None
    return await _load(rt, session_id_for(token), prefetched)


def _context(live: LiveSession) -> SessionContext:
    return SessionContext(
        session_id=live.session_id,
        cart_id=live.cart_id,
        expires_at=live.expires_at,
        user_id=live.user_id,
        role=live.role,
    )


async def resolve_registered_session(
    rt: Runtime,
    token: str,
    access_token: str | None,
    *,
    prefetched: Mapping[str, bytes | None] | None = None,
) -> SessionContext:
    """The caller's registered session, given its cookie token and access JWT.

    401 ``session_expired`` if the session is gone (expired, revoked, logged out),
    401 ``access_token_expired`` if the access token is missing or expired (refresh it),
    401 ``invalid_access_token`` if it is forged, tampered or names another session.
    """
    live = await load_session(rt, token, prefetched=prefetched)
    if live is None:
        raise Unauthorized("Your session has ended; log in again.", code="session_expired")
    if not access_token:
        raise _expired_access()
    try:
        claims = read_access_token(
            rt.settings.resolved_secret_key,
            access_token,
            now=rt.clock.now(),
            max_lifetime_seconds=rt.settings.access_token_ttl_seconds,
        )
    except AccessTokenError as exc:
        if exc.code == "expired":
            raise _expired_access() from exc
        raise _invalid_access() from exc
    if claims.session_id != live.session_id or claims.user_id != live.user_id:
        raise _invalid_access()
    return _context(live)


def _expired_access() -> Unauthorized:
    return Unauthorized(
        "The access token has expired: POST /api/auth/refresh.", code="access_token_expired"
    )


def _invalid_access() -> Unauthorized:
    return Unauthorized("The access token is not valid.", code="invalid_access_token")


def session_context(live: LiveSession) -> SessionContext:
    """The request context of a live registered session."""
    return _context(live)


@dataclass(frozen=True, slots=True)
class Rotation:
    refresh_token: str
    live: LiveSession


@dataclass(frozen=True, slots=True)
class _Family:
    """A presented refresh token's row and its session (one session is one token family)."""

    token: RefreshToken
    session: RegisteredSession


# What a presented refresh token comes to; every outcome but "rotated" is a 401.
_Outcome = Literal["invalid", "reused", "ended", "rotated"]


async def rotate_refresh_token(
    rt: Runtime, *, session_token: str, presented: str, actor: Actor
) -> Rotation:
    """Exchange a refresh token for a new one and slide the session.

    401 ``invalid_refresh_token`` if unknown or not this session's; 401 ``session_expired``
    if the session is over; 401 ``refresh_token_reused`` if the token was already
    exchanged, in which case the whole session (the family) is revoked and audited.
    """
    now = rt.clock.now()
    sid = session_id_for(session_token) if is_registered_token(session_token) else None
    outcome: _Outcome = "invalid"
    live: LiveSession | None = None
    new_token = new_refresh_token()
    async with rt.db.transaction() as s:
        family = await _lock_family(s, presented)
        if family is not None:
            outcome = _judge(family, sid, now)
            if outcome == "reused":
                await _revoke_family(s, family.session, actor, now)
            elif outcome == "rotated":
                live = await _rotate(rt, s, family, new_token, now)
    if outcome == "reused" and family is not None:
        await session_cache.mark_revoked(rt, family.session.id)
    _refuse(outcome)
    assert live is not None
    await session_cache.store(rt, live)
    return Rotation(refresh_token=new_token, live=live)


async def _lock_family(s: AsyncSession, presented: str) -> _Family | None:
    """The presented token's row and its session row, locked; None if either is unknown."""
    row = await s.scalar(select(RefreshToken).where(RefreshToken.id == refresh_token_id(presented)))
    if row is None:
        return None
    session = await s.scalar(
        select(RegisteredSession).where(RegisteredSession.id == row.session_id).with_for_update()
    )
    # Read again under the session lock: a concurrent rotation may have won.
    await s.refresh(row)
    return None if session is None else _Family(row, session)


def _judge(family: _Family, sid: str | None, now: datetime) -> _Outcome:
    """What the presented token comes to. Reuse is checked first: an exchanged token ends
    its family whoever presents it."""
    if family.token.rotated_at is not None:
        return "reused"
    if family.session.id != sid:
        return "invalid"
    if family.session.revoked_at is not None or family.session.expires_at <= now:
        return "ended"
    return "rotated"


async def _revoke_family(
    s: AsyncSession, session: RegisteredSession, actor: Actor, now: datetime
) -> None:
    """A reused token: someone else has a copy, so the session ends, audited."""
    if session.revoked_at is None:
        session.revoked_at = now
        session.revoked_reason = "refresh_token_reuse"
    await record(
        s,
        AuditEvent(
            "refresh_token_reuse",
            "session",
            session.id,
            "revoke_family",
            {"user_id": session.user_id},
        ),
        Actor(
            session_id=session.id,
            user_id=session.user_id,
            ip_address=actor.ip_address,
            user_agent=actor.user_agent,
        ),
        now,
    )


async def _rotate(
    rt: Runtime, s: AsyncSession, family: _Family, new_token: str, now: datetime
) -> LiveSession:
    """Mark the presented token exchanged, add its successor, slide the session."""
    session = family.session
    family.token.rotated_at = now
    s.add(RefreshToken(id=refresh_token_id(new_token), session_id=session.id, issued_at=now))
    session.expires_at = _slid_expiry(rt, session.expires_at, session.absolute_expires_at, now)
    session.updated_at = now
    role = await s.scalar(select(User.role).where(User.id == session.user_id))
    return _live(session, role or "customer")


def _refuse(outcome: _Outcome) -> None:
    """The 401 of every outcome but a rotation."""
    if outcome == "reused":
        raise Unauthorized(
            "This refresh token was already used; the session has been ended.",
            code="refresh_token_reused",
        )
    if outcome == "invalid":
        raise Unauthorized("The refresh token is not valid.", code="invalid_refresh_token")
    if outcome == "ended":
        raise Unauthorized("Your session has ended; log in again.", code="session_expired")


async def revoke_session(rt: Runtime, s: AsyncSession, session_id: str, reason: str) -> None:
    """Inside ``s``: end one session (its refresh tokens die with it). Call
    :func:`publish_revocation` after the unit of work commits."""
    await s.execute(
        update(RegisteredSession)
        .where(RegisteredSession.id == session_id, RegisteredSession.revoked_at.is_(None))
        .values(revoked_at=rt.clock.now(), revoked_reason=reason)
    )


async def revoke_user_sessions(
    rt: Runtime, s: AsyncSession, user_id: str, reason: str
) -> list[str]:
    """Inside ``s``: end every live session of a user; returns their ids."""
    ids = list(
        (
            await s.scalars(
                select(RegisteredSession.id).where(
                    RegisteredSession.user_id == user_id, RegisteredSession.revoked_at.is_(None)
                )
            )
        ).all()
    )
    if ids:
        await s.execute(
            update(RegisteredSession)
            .where(RegisteredSession.id.in_(ids))
            .values(revoked_at=rt.clock.now(), revoked_reason=reason)
        )
    return ids


async def publish_revocation(rt: Runtime, *session_ids: str) -> None:
    """After commit: make the revocation visible through the cache on every instance."""
    await session_cache.mark_revoked(rt, *session_ids)


async def delete_expired_registered_sessions(rt: Runtime) -> int:
    """Remove sessions past their expiry, and revoked ones after a day; returns how many."""
    now = rt.clock.now()
    async with rt.db.transaction() as s:
        q = select(RegisteredSession.id).where(
            or_(
                RegisteredSession.expires_at <= now,
                RegisteredSession.revoked_at <= now - _KEEP_REVOKED,
            )
        )
        ids = list((await s.scalars(claim_stale(rt, q).limit(1000))).all())
        if ids:
            await s.execute(delete(RegisteredSession).where(RegisteredSession.id.in_(ids)))
        return len(ids)
