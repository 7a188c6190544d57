"""The active-cart cache of the seed's StorageConfig: Redis, ``cart:`` prefix, 2 h TTL.

Best effort both ways: a Redis failure never fails a request, it only costs a
database read. Writes delete the key after they commit.
"""

from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError

from tillpoint.cart.view import CartSnapshot
from tillpoint.runtime import Runtime

log = logging.getLogger(__name__)
PREFIX = "cart:"


async def cached(rt: Runtime, cart_id: str) -> CartSnapshot | None:
    if rt.redis is None:
        return None
    try:
        raw = await rt.redis.get(PREFIX + cart_id)
    except RedisError as exc:
        log.warning("cart cache read failed", extra={"error": str(exc)})
        return None
    return CartSnapshot.from_json(json.loads(raw)) if raw else None


async def store(rt: Runtime, snap: CartSnapshot) -> None:
    if rt.redis is None:
        return
    try:
        await rt.redis.set(
            PREFIX + snap.id, json.dumps(snap.to_json()), ex=rt.settings.cart_cache_ttl_seconds
        )
    except RedisError as exc:
        log.warning("cart cache write failed", extra={"error": str(exc)})


async def invalidate(rt: Runtime, *cart_ids: str) -> None:
    if rt.redis is None or not cart_ids:
        return
    try:
        await rt.redis.delete(*(PREFIX + c for c in cart_ids))
    except RedisError as exc:
        log.warning("cart cache invalidation failed", extra={"error": str(exc)})
