"""The guest-session cache (Redis, optional): the cart id and expiry of a live guest session.

Every guest request resolves its session; Redis keeps a short-lived copy so that need not
read the row. A copy is only used while it is live and needs no slide of the expiry (the
slide is a database write, so that request reads and re-caches the row). Sign-in deletes
the guest row: it writes a ``gone`` marker that outlives any copy written before it, and
every read checks the marker, like the registered-session cache's revocation. An order
moves the session to a new cart: a cart pin, outliving any copy the same way, names the
cart a copy must be read with. Redis failures never fail a request: they cost a database
read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum

from redis.exceptions import RedisError

from tillpoint.auth.session_cache import (
    CacheKeys,
    read_with_marker,
    write_cart_pins,
    write_markers,
)
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)
PREFIX = "guest-session:"
GONE_PREFIX = "guest-session-gone:"
CART_PREFIX = "guest-session-cart:"
KEYS = CacheKeys(PREFIX, GONE_PREFIX, CART_PREFIX)


class Gone(Enum):
    marker = "gone"


GONE = Gone.marker


def keys_for(session_id: str) -> list[str]:
    """The Redis keys :func:`cached` reads (for a caller that reads them ahead)."""
    return KEYS.of(session_id)


async def cached(
    rt: Runtime, session_id: str, prefetched: Mapping[str, bytes | None] | None = None
) -> tuple[str, datetime] | Gone | None:
    """(cart id, expiry) of the cached session, ``GONE`` if it was deleted, or None.
    ``prefetched``: the values of :func:`keys_for` if this request already read them."""
    got = await read_with_marker(rt, KEYS, session_id, "guest session", prefetched)
    if got is None:
        return None
    if got.marked:
        return GONE
    if not got.entry:
        return None
    text = got.entry.decode() if isinstance(got.entry, bytes) else str(got.entry)
    cart_id, _, expires = text.partition(" ")
    try:
        return got.cart or cart_id, datetime.fromisoformat(expires)
    except ValueError:  # not ours: ask the database
        return None


async def store(rt: Runtime, session_id: str, cart_id: str, expires_at: datetime) -> None:
    if rt.redis is None:
        return
    try:
        await rt.redis.set(
            PREFIX + session_id,
            f"{cart_id} {expires_at.isoformat()}",
            ex=rt.settings.session_cache_ttl_seconds,
        )
    except RedisError as exc:
        log.warning("guest session cache write failed", extra={"error": str(exc)})


async def mark_gone(rt: Runtime, *session_ids: str) -> None:
    """Make a deleted guest session unknown to every instance now (its row is gone)."""
    await write_markers(rt, GONE_PREFIX, PREFIX, session_ids, "guest session gone")


async def move_cart(rt: Runtime, session_ids: Iterable[str], cart_id: str) -> None:
    """After the commit that moved these guest sessions to the new cart ``cart_id``."""
    await write_cart_pins(rt, KEYS, session_ids, cart_id, "guest session cart")
