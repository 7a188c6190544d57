"""The stock event stream behind ``GET /api/inventory/stream`` (Server-Sent Events) and
the ``inventory-updates`` channel of ``/api/inventory/ws`` (WebSocket): one source for both.

Per connection, changes are coalesced per product: at most one event per product per
throttle interval (1 s, the seed's throttle), carrying the latest level of each SKU that
changed. Event ids are millisecond timestamps of the change, so a client reconnecting
with ``Last-Event-ID`` first gets the current level of every product that changed since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tillpoint.catalog import public as catalog_public
from tillpoint.errors import FieldError, InvalidInput
from tillpoint.inventory.feed import StockChange
from tillpoint.inventory.models import InventoryItem
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class StockUpdate:
    """One throttled update: ``id`` (resume point) and the payload both transports send,
    ``{"product_id", "skus": [{"sku", "variant_id", "available", "in_stock"}]}``."""

    id: str
    payload: dict[str, Any]


async def watchable_product_ids(rt: Runtime, product_ids: Sequence[str]) -> list[str]:
    """``product_ids`` sorted and deduplicated, if all are products in the catalog and no
    more than ``inventory_stream_max_products``; else 422 ``invalid_product_ids``.
    Unknown ids are refused rather than watched for ever (a typo would stream nothing)."""
    ids = sorted({p.strip() for p in product_ids if p.strip()})
    limit = rt.settings.inventory_stream_max_products
    known = await catalog_public.existing_product_ids(rt, ids[:limit])
    bad = [p for p in ids if p not in known]
    if not ids or bad or len(ids) > limit:
        raise InvalidInput(
            f"product_ids must be 1 to {limit} ids of products in the catalog.",
            code="invalid_product_ids",
            fields=[FieldError(("product_ids",), "invalid", ", ".join(bad[:5]) or "count")],
        )
    return ids


def _update(rt: Runtime, product_id: str, changes: Sequence[StockChange]) -> StockUpdate:
    backorder = rt.settings.inventory_backorder_enabled
    skus = [
        {
            "sku": c.sku,
            "variant_id": c.variant_id,
            "available": c.available,
            "in_stock": c.available > 0 or (backorder and c.backorder_allowed),
        }
        for c in sorted(changes, key=lambda c: c.sku)
    ]
    return StockUpdate(max(c.event_id for c in changes), {"product_id": product_id, "skus": skus})


async def _changed_since(rt: Runtime, product_ids: Sequence[str], since_ms: int) -> list[Any]:
    since = datetime.fromtimestamp(since_ms / 1000, UTC)
    async with rt.db.transaction() as s:
        rows = await s.scalars(
            select(InventoryItem).where(
                InventoryItem.product_id.in_(sorted(product_ids)),
                # ">=": a change in the same millisecond as the last one seen is sent again
                # rather than lost; levels are idempotent.
                InventoryItem.updated_at >= since,
            )
        )
        return [
            StockChange(
                r.product_id, r.variant_id, r.sku, r.on_hand, r.reserved, r.backorder_allowed,
                r.updated_at,
            )
            for r in rows
        ]  # fmt: skip


def parse_last_event_id(value: str | None) -> int | None:
    """A ``Last-Event-ID`` we issued (millisecond timestamp), or None."""
    if value and value.isdigit() and len(value) <= 16:
        return int(value)
    return None


async def stock_events(
    rt: Runtime, product_ids: Sequence[str], *, last_event_id: int | None = None
) -> AsyncIterator[dict[str, Any]]:
    """SSE events (``id``, ``event``, ``data``) for changes of ``product_ids`` until the
    consumer stops iterating."""
    # Closed with this generator, so the subscription ends when the stream does.
    async with contextlib.aclosing(
        stock_updates(rt, product_ids, last_event_id=last_event_id)
    ) as updates:
        async for update in updates:
            yield {"id": update.id, "event": "stock", "data": json.dumps(update.payload)}


async def stock_updates(
    rt: Runtime,
    product_ids: Sequence[str],
    *,
    last_event_id: int | None = None,
    listening: Callable[[], Awaitable[None]] | None = None,
) -> AsyncGenerator[StockUpdate]:
    """Throttled updates of ``product_ids`` (at most one per product per
    ``inventory_stream_throttle_ms``, the latest level of each SKU that changed) until the
    consumer stops iterating. ``listening`` is awaited once the subscription hears every
    instance's changes, before the first update."""
    throttle = rt.settings.inventory_stream_throttle_ms / 1000
    loop = asyncio.get_running_loop()
    pending: dict[str, dict[str, StockChange]] = {}
    wake = asyncio.Event()

    def received(change: StockChange) -> None:
        pending.setdefault(change.product_id, {})[change.sku] = change
        wake.set()

    subscription = rt.stock_feed.subscribe(product_ids, received)
    try:
        # Listen before reading the resume snapshot, so no change falls in between.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await rt.stock_feed.ready()
        if listening is not None:
            await listening()
        if last_event_id is not None:
            for change in await _changed_since(rt, product_ids, last_event_id):
                received(change)
        last_sent: dict[str, float] = {}
        while True:
            now = loop.time()
            for pid in sorted(pending):
                if now - last_sent.get(pid, float("-inf")) >= throttle:
                    yield _update(rt, pid, list(pending.pop(pid).values()))
                    last_sent[pid] = now
            wake.clear()
            waits = [last_sent[pid] + throttle - now for pid in pending if pid in last_sent]
            timeout = max(min(waits), 0.01) if waits else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    finally:
        subscription.close()
