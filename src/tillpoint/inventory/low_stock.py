"""Low stock: when a sale or an adjustment takes a SKU's available stock (on hand less
reserved) from above its threshold to at or below it, the owner hears once — an
``inventory.low_stock`` webhook and, with ``owner_email`` set, an email — in the same
unit of work as the change. Further sales below the threshold say nothing; stock that
goes back above it arms the next crossing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.ids import new_id
from tillpoint.mail.kinds import LowStock
from tillpoint.mail.render import absolute_url
from tillpoint.mail.send import queue_email
from tillpoint.runtime import Runtime
from tillpoint.webhooks.public import EventType, LowStockData, emit_event


@dataclass(frozen=True, slots=True)
class LowStockCrossing:
    product_id: str
    variant_id: str | None
    sku: str
    available: int
    on_hand: int
    threshold: int


def crossing(
    product_id: str,
    variant_id: str | None,
    sku: str,
    *,
    before: int,
    on_hand: int,
    reserved: int,
    threshold: int,
) -> LowStockCrossing | None:
    """The crossing if available stock went from ``before`` (above ``threshold``) to
    ``on_hand - reserved`` (at or below it); None otherwise."""
    after = on_hand - reserved
    if before > threshold >= after:
        return LowStockCrossing(product_id, variant_id, sku, after, on_hand, threshold)
    return None


async def announce_low_stock(
    rt: Runtime, s: AsyncSession, crossings: Sequence[LowStockCrossing], now: datetime
) -> None:
    """Emit ``inventory.low_stock`` and queue the owner's email for each crossing."""
    owner = rt.settings.owner_email
    for c in crossings:
        data = LowStockData(
            product_id=c.product_id, variant_id=c.variant_id, sku=c.sku,
            available=c.available, on_hand=c.on_hand, threshold=c.threshold,
        )  # fmt: skip
        await emit_event(s, EventType.inventory_low_stock, data, now=now)
        if owner:
            email = LowStock(
                c.sku, c.available, c.threshold,
                absolute_url(rt.settings, f"/admin/products/{quote(c.product_id)}"),
            )  # fmt: skip
            queue_email(
                s, rt.settings, email, recipient=owner,
                dedupe_key=f"low_stock:{c.sku}:{new_id('msg')}", refs={"sku": c.sku}, now=now,
            )  # fmt: skip
