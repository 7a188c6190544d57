"""Stock change events: published after the change commits, fanned out to subscribers.

With Redis configured every instance publishes to the ``inventory-updates`` channel (the
seed's channel name) and one listener per instance hands messages to its local
subscribers, so a change made on any instance reaches streams on every instance.
Without Redis, delivery is in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANNEL = "inventory-updates"
_PENDING = "tillpoint.inventory.pending_changes"
_FEED = "tillpoint.inventory.feed"


@dataclass(frozen=True, slots=True)
class StockChange:
    """The level of one SKU right after a committed change."""

    product_id: str
    variant_id: str | None
    sku: str
    on_hand: int
    reserved: int
    backorder_allowed: bool
    at: datetime

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)

    @property
    def event_id(self) -> str:
        """Milliseconds since the epoch: comparable across instances, used for resume."""
        return str(int(self.at.timestamp() * 1000))

    def to_json(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies every field and showed in profiles.
        return {
            "product_id": self.product_id,
            "variant_id": self.variant_id,
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "backorder_allowed": self.backorder_allowed,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StockChange:
        return cls(**{**data, "at": datetime.fromisoformat(data["at"])})


StockUpdateCallback = Callable[[StockChange], None]


class Subscription:
    """A live subscription; ``close()`` stops deliveries (idempotent)."""

    def __init__(self, feed: StockFeed, product_ids: frozenset[str], callback: StockUpdateCallback):
        self.feed = feed
        self.product_ids = product_ids
        self.callback = callback

    def close(self) -> None:
        self.feed._subscribers.discard(self)


class StockFeed:
    """Publish and subscribe to stock changes for one app instance."""

    def __init__(self, redis: Redis | None, redis_url: str | None) -> None:
        self._redis = redis
        self._redis_url = redis_url if redis is not None else None
        self._subscribers: set[Subscription] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event() if redis is not None else None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def distributed(self) -> bool:
        return self._redis_url is not None

    async def publish(self, changes: Iterable[StockChange]) -> None:
        """Send ``changes`` to every subscriber on every instance (best effort)."""
        batch = list(changes)
        if not batch:
            return
        if self._redis is not None:
            try:
                await self._redis.publish(CHANNEL, json.dumps([c.to_json() for c in batch]))
                return
            except RedisError as exc:
                # Streams on this instance still learn of it; others catch up on resume.
                log.warning("stock event publish failed", extra={"error": str(exc)})
        self._deliver(batch)

    def subscribe(self, product_ids: Iterable[str], callback: StockUpdateCallback) -> Subscription:
        """The seed's subscribeToStockUpdates: ``callback`` runs for each change of
        those products, on this instance's event loop, until the subscription is closed."""
        sub = Subscription(self, frozenset(product_ids), callback)
        self._subscribers.add(sub)
        if self._redis_url is not None and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        return sub

    async def ready(self) -> None:
        """Wait until this instance listens on Redis (no-op in-process)."""
        if self._listening is not None:
            await self._listening.wait()

    def _deliver(self, batch: list[StockChange]) -> None:
        for sub in list(self._subscribers):
            for change in batch:
                if change.product_id in sub.product_ids:
                    try:
                        sub.callback(change)
                    except Exception:
                        log.exception("stock subscriber failed")

    async def _listen(self) -> None:
        assert self._redis_url is not None
        delay = 0.5
        while self._subscribers:
            # A connection of its own without a read timeout: it blocks until a message.
            client: Redis = Redis.from_url(self._redis_url, health_check_interval=30)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    if self._listening is not None:
                        self._listening.set()
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = json.loads(message["data"])
                        self._deliver([StockChange.from_json(d) for d in data])
            except (RedisError, OSError) as exc:
                log.warning("stock listener lost Redis", extra={"error": str(exc)})
                if self._listening is not None:
                    self._listening.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                await client.aclose()

    def publish_soon(self, changes: list[StockChange]) -> None:
        """Publish from synchronous code (a commit hook) without blocking it."""
        task = asyncio.get_running_loop().create_task(self.publish(changes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._subscribers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await self._listener


def publish_after_commit(feed: StockFeed, s: AsyncSession, changes: list[StockChange]) -> None:
    """Queue ``changes`` on the unit of work ``s``; they are published once it commits,
    and dropped if it rolls back, so subscribers never see a change that did not happen."""
    if not changes:
        return
    s.info.setdefault(_PENDING, []).extend(changes)
    s.info.setdefault(_FEED, feed)


# Listeners on the Session class that act only on sessions with changes queued (adding
# listeners to each session that queues some cost more than the whole publish). SQLAlchemy
# also fires these for savepoints; only the outermost transaction counts.
@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if _PENDING not in session.info or session.in_nested_transaction():
        return
    batch = session.info.pop(_PENDING)
    feed = session.info.get(_FEED)
    if batch and feed is not None:
        feed.publish_soon(batch)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    if _PENDING in session.info and not session.in_nested_transaction():
        session.info.pop(_PENDING, None)
