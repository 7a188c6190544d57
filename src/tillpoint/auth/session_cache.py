"""The registered-session cache of the seed's SessionConfig (Redis, optional).

Sessions live in the database; Redis keeps a short-lived copy so a request need not
read the row. Revocation writes a ``revoked`` marker that outlives any copy written
before it (its TTL is the cache TTL plus a margin), and every read checks the marker,
so logout and logout-all hold at once on every instance even if a slow request
re-caches the session just after it was revoked. An order moves the session to a new
cart: a ``cart`` pin, which outlives any copy the same way, names the cart a copy must
be read with. Redis failures never fail a request: they cost a database read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from redis.exceptions import RedisError

from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)
PREFIX = "session:"
REVOKED_PREFIX = "session-revoked:"
CART_PREFIX = "session-cart:"
_MARGIN_SECONDS = 60


@dataclass(frozen=True, slots=True)
class CacheKeys:
    """The key prefixes of one session cache: the copies, the marker that ends a session,
    and the pin naming the cart a session was moved to (both outlive any copy)."""

    entry: str
    marker: str
    cart: str

    def of(self, session_id: str) -> list[str]:
        return [self.entry + session_id, self.marker + session_id, self.cart + session_id]


@dataclass(frozen=True, slots=True)
class Cached:
    """One session's cache keys as read: its copy, whether it is marked, its cart pin."""

    entry: bytes | str | None
    marked: bool
    cart: str | None


KEYS = CacheKeys(PREFIX, REVOKED_PREFIX, CART_PREFIX)


@dataclass(frozen=True, slots=True)
class LiveSession:
    """What a request needs of a live registered session."""

    session_id: str
    user_id: str
    role: str
    cart_id: str
    expires_at: datetime
    absolute_expires_at: datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "session_id": self.session_id,
                "user_id": self.user_id,
                "role": self.role,
                "cart_id": self.cart_id,
                "expires_at": self.expires_at.isoformat(),
                "absolute_expires_at": self.absolute_expires_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> LiveSession:
        d = json.loads(raw)
        return cls(
            session_id=d["session_id"],
            user_id=d["user_id"],
            role=d["role"],
            cart_id=d["cart_id"],
            expires_at=datetime.fromisoformat(d["expires_at"]),
            absolute_expires_at=datetime.fromisoformat(d["absolute_expires_at"]),
        )


class Revoked(Enum):
    marker = "revoked"


REVOKED = Revoked.marker


def keys_for(session_id: str) -> list[str]:
    """The Redis keys :func:`cached` reads (for a caller that reads them ahead)."""
    return KEYS.of(session_id)


async def cached(
    rt: Runtime, session_id: str, prefetched: Mapping[str, bytes | None] | None = None
) -> LiveSession | Revoked | None:
    """The cached session, ``REVOKED`` if it was revoked, or None (ask the database).
    ``prefetched``: the values of :func:`keys_for` if this request already read them."""
    got = await read_with_marker(rt, KEYS, session_id, "session", prefetched)
    if got is None:
        return None
    if got.marked:
        return REVOKED
    if not got.entry:
        return None
    live = LiveSession.from_json(got.entry)
    return dataclasses.replace(live, cart_id=got.cart) if got.cart else live


async def store(rt: Runtime, live: LiveSession) -> None:
    if rt.redis is None:
        return
    try:
        await rt.redis.set(
            PREFIX + live.session_id, live.to_json(), ex=rt.settings.session_cache_ttl_seconds
        )
    except RedisError as exc:
        log.warning("session cache write failed", extra={"error": str(exc)})


async def mark_revoked(rt: Runtime, *session_ids: str) -> None:
    """Make revocation visible to every instance now (the database row is already revoked)."""
    await write_markers(rt, REVOKED_PREFIX, PREFIX, session_ids, "session revocation")


async def move_cart(rt: Runtime, session_ids: Iterable[str], cart_id: str) -> None:
    """After the commit that moved these sessions to the new cart ``cart_id``."""
    await write_cart_pins(rt, KEYS, session_ids, cart_id, "session cart")


async def read_with_marker(
    rt: Runtime,
    keys: CacheKeys,
    session_id: str,
    what: str,
    prefetched: Mapping[str, bytes | None] | None = None,
) -> Cached | None:
    """One MGET of a session's cached entry, its marker and its cart pin, or None when
    there is no Redis or the read failed (logged, never raised: the database answers).
    ``prefetched`` holds values this request already read (every key needed to skip the MGET)."""
    if rt.redis is None:
        return None
    names = keys.of(session_id)
    values: list[bytes | str | None]
    if prefetched is not None and all(name in prefetched for name in names):
        values = [prefetched[name] for name in names]
    else:
        try:
            values = await rt.redis.mget(names)
        except RedisError as exc:
            log.warning(f"{what} cache read failed", extra={"error": str(exc)})
            return None
    raw, marker, cart = values
    pinned = cart.decode() if isinstance(cart, bytes) else cart
    return Cached(raw, marker is not None, str(pinned) if pinned else None)


async def write_markers(
    rt: Runtime, marker_prefix: str, entry_prefix: str, session_ids: tuple[str, ...], what: str
) -> None:
    """Set a marker per session that outlives any cached copy, and drop the copies: every
    instance's next read sees the marker. A Redis error is logged, never raised."""
    if rt.redis is None or not session_ids:
        return
    ttl = rt.settings.session_cache_ttl_seconds + _MARGIN_SECONDS
    try:
        async with rt.redis.pipeline(transaction=True) as pipe:
            for sid in session_ids:
                pipe.set(marker_prefix + sid, "1", ex=ttl)
                pipe.delete(entry_prefix + sid)
            await pipe.execute()
    except RedisError as exc:
        log.warning(f"{what} marker failed", extra={"error": str(exc)})


async def write_cart_pins(
    rt: Runtime, keys: CacheKeys, session_ids: Iterable[str], cart_id: str, what: str
) -> None:
    """Pin ``cart_id`` on each session for longer than any copy lives, and drop the copies:
    a copy cached from before the move (a request that read the row just before the
    commit) is then read with the new cart. A Redis error is logged, never raised."""
    ids = list(session_ids)
    if rt.redis is None or not ids:
        return
    ttl = rt.settings.session_cache_ttl_seconds + _MARGIN_SECONDS
    try:
        async with rt.redis.pipeline(transaction=True) as pipe:
            for sid in ids:
                pipe.set(keys.cart + sid, cart_id, ex=ttl)
                pipe.delete(keys.entry + sid)
            await pipe.execute()
    except RedisError as exc:
        log.warning(f"{what} pin failed", extra={"error": str(exc)})
