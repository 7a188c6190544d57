"""The collaborators one app instance shares: settings, database, Redis, clock.

Built once at start-up and handed to use cases, so nothing reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

import tillpoint.models  # noqa: F401  (registers every table, so foreign keys resolve)
from tillpoint.audit.chain import CHAINS_KEY
from tillpoint.clock import Clock, SystemClock
from tillpoint.config import Settings, require_production_ready
from tillpoint.db import Database
from tillpoint.inventory.feed import StockFeed


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None = None
    clock: Clock = field(default_factory=SystemClock)
    stock_feed: StockFeed = field(init=False)

    def __post_init__(self) -> None:
        # Production without a real payment gateway (or secret) stops here, at start-up.
        require_production_ready(self.settings)
        # Stock events fan out through Redis pub/sub when it is configured.
        self.stock_feed = StockFeed(self.redis, self.settings.redis_url)
        # record() sees only its session: the audit chain count travels in session.info.
        self.db.sessions.configure(info={CHAINS_KEY: self.settings.audit_chains})

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """Open the database (and Redis, if configured) for ``settings``."""
        db = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            ping_idle_seconds=settings.database_ping_idle_seconds,
        )
        redis = (
            Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
            if settings.redis_url
            else None
        )
        return cls(settings=settings, db=db, redis=redis, clock=clock or SystemClock())

    async def close(self) -> None:
        await self.stock_feed.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
