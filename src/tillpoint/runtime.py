"""The collaborators one app instance shares: settings, database, Redis, clock, and what
the composition root (``tillpoint/bootstrap.py``) built: the payment gateway, the pricing
collaborators, the checkout's action table and the webhook routes.

Built once at start-up by ``bootstrap.build_runtime`` and handed to use cases, so nothing
reaches for globals. The features' types are named here only for the type checker: at
run time this core module imports no feature it carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from tillpoint.clock import Clock, SystemClock
from tillpoint.config import Settings, require_production_ready
from tillpoint.db import Database

if TYPE_CHECKING:
    from tillpoint.cart.public import PayingCheck
    from tillpoint.checkout.public import ActionTable
    from tillpoint.inventory.public import StockFeed
    from tillpoint.payments.public import PaymentGateway, WebhookRoutes
    from tillpoint.pricing.public import PricingServices


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: Redis | None = None
    clock: Clock = field(default_factory=SystemClock)
    # Built by the composition root (bootstrap.build_runtime).
    gateway: PaymentGateway = field(kw_only=True)
    pricing: PricingServices = field(kw_only=True)
    actions: ActionTable = field(kw_only=True)
    webhooks: WebhookRoutes = field(kw_only=True)
    stock_feed: StockFeed = field(kw_only=True)
    # Asked under a cart's row lock before any change: which checkout pays for it, if any.
    paying: PayingCheck = field(kw_only=True)

    def __post_init__(self) -> None:
        # Production without a real payment gateway (or secret) stops here, at start-up.
        require_production_ready(self.settings)

    async def close(self) -> None:
        await self.stock_feed.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


def open_database(settings: Settings) -> Database:
    """The database pool ``settings`` describe."""
    return Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        ping_idle_seconds=settings.database_ping_idle_seconds,
    )


def open_redis(settings: Settings) -> Redis | None:
    """A Redis client if ``settings`` configure one."""
    if not settings.redis_url:
        return None
    return Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
