"""Guest sessions: start one (with its cart), resolve a cookie token, slide expiry, sweep.

The seed's ``GuestSession``: id, cart id, expiry, IP, user agent, checkout data.
Registered sessions are :mod:`tillpoint.auth.sessions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update

from tillpoint.auth import guest_session_cache as guest_cache
from tillpoint.auth.models import GuestSession, RegisteredSession
from tillpoint.auth.queries import insert_guest_session
from tillpoint.auth.session_context import SessionContext
from tillpoint.auth.tokens import new_session_token, session_id_for
from tillpoint.runtime import Runtime
from tillpoint.security.scrub import scrub_text

# Extend a session's expiry at most this often, so reads do not write every time.
_SLIDE_GRANULARITY = timedelta(hours=1)
_CART_COLUMNS = ("id", "session_id", "user_id", "status", "currency", "expires_at", "version")
# Built once: every request runs it, and building a statement costs about what running it does.
_READ_SESSION = select(GuestSession.cart_id, GuestSession.expires_at).where(
    GuestSession.id == bindparam("sid")
)


async def start_guest_session(
    rt: Runtime, *, ip_address: str | None, user_agent: str | None
) -> tuple[str, SessionContext]:
    """Create a guest session and its empty cart; return the cookie token and the context."""
    token = new_session_token()
    sid = session_id_for(token)
    now = rt.clock.now()
    expires = now + timedelta(seconds=rt.settings.guest_session_ttl_seconds)
    row = {
        "id": sid,
        "expires_at": expires,
        "ip_address": ip_address or None,
        "user_agent": scrub_text(user_agent or "")[:512] or None,
    }
    # Core, not ORM objects and a flush: every new visitor runs this.
    async with rt.db.transaction() as s:
        cart_id = await insert_guest_session(rt, s, row)
    await guest_cache.store(rt, sid, cart_id, expires)
    return token, SessionContext(session_id=sid, cart_id=cart_id, expires_at=expires)


async def resolve_guest_session(
    rt: Runtime, token: str, *, prefetched: Mapping[str, bytes | None] | None = None
) -> SessionContext | None:
    """The live guest session a cookie token opens, sliding its expiry; None if unknown/expired.
    ``prefetched``: the session cache's keys (``cache.keys_for``) if the request read them."""
    if not token or len(token) > 128:
        return None
    sid = session_id_for(token)
    now = rt.clock.now()
    ttl = timedelta(seconds=rt.settings.guest_session_ttl_seconds)
    hit = await guest_cache.cached(rt, sid, prefetched)
    if hit is guest_cache.GONE:
        return None
    if hit is not None:
        cart_id, expires_at = hit
        if expires_at > now and now + ttl - expires_at < _SLIDE_GRANULARITY:
            return SessionContext(session_id=sid, cart_id=cart_id, expires_at=expires_at)
    # A cache miss or a due slide: one read (and, at most hourly, one UPDATE), each a
    # statement of its own, so no transaction around them.
    async with rt.db.single_statement() as conn:
        row = (await conn.execute(_READ_SESSION, {"sid": sid})).first()
        if row is None or row.expires_at <= now:
            return None
        expires_at = row.expires_at
        if now + ttl - expires_at >= _SLIDE_GRANULARITY:
            expires_at = now + ttl
            await conn.execute(
                update(GuestSession).where(GuestSession.id == sid).values(expires_at=expires_at)
            )
    await guest_cache.store(rt, sid, row.cart_id, expires_at)  # after the slide was written
    return SessionContext(session_id=sid, cart_id=row.cart_id, expires_at=expires_at)


async def save_checkout_data(rt: Runtime, session_id: str, data: dict[str, object]) -> None:
    """Persist partial checkout context on the caller's session, guest or registered
    (the seed's checkoutData); login carries a guest's over to the registered session."""
    async with rt.db.transaction() as s:
        for table in (GuestSession, RegisteredSession):
            await s.execute(update(table).where(table.id == session_id).values(checkout_data=data))


async def delete_expired_sessions(rt: Runtime) -> int:
    """Remove guest sessions whose expiry has passed; returns how many."""
    async with rt.db.transaction() as s:
        ids = (
            await s.scalars(
                select(GuestSession.id).where(GuestSession.expires_at <= rt.clock.now())
            )
        ).all()
        if ids:
            await s.execute(delete(GuestSession).where(GuestSession.id.in_(ids)))
        return len(ids)
