"""The guest-session cache (Redis, optional): the cart id and expiry of a live guest session.

Every guest request resolves its session; Redis keeps a short-lived copy so that need not
read the row. A copy is only used while it is live and needs no slide of the expiry (the
slide is a database write, so that request reads and re-caches the row). Sign-in deletes
the guest row: it writes a ``gone`` marker that outlives any copy written before it, and
every read checks the marker, like the registered-session cache's revocation. Redis
failures never fail a request: they cost a database read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from enum import Enum

from redis.exceptions import RedisError

from tillpoint.auth.session_cache import read_with_marker, write_markers
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)
PREFIX = "guest-session:"
GONE_PREFIX = "guest-session-gone:"


class Gone(Enum):
    marker = "gone"


GONE = Gone.marker


def keys_for(session_id: str) -> list[str]:
    """The Redis keys :func:`cached` reads (for a caller that reads them ahead)."""
    return [PREFIX + session_id, GONE_PREFIX + session_id]


async def cached(
    rt: Runtime, session_id: str, prefetched: Mapping[str, bytes | None] | None = None
) -> tuple[str, datetime] | Gone | None:
    """(cart id, expiry) of the cached session, ``GONE`` if it was deleted, or None.
    ``prefetched``: the values of :func:`keys_for` if this request already read them."""
    got = await read_with_marker(rt, PREFIX, GONE_PREFIX, session_id, "guest session", prefetched)
    if got is None:
        return None
    raw, gone = got
    if gone:
        return GONE
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    cart_id, _, expires = text.partition(" ")
    try:
        return cart_id, datetime.fromisoformat(expires)
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
