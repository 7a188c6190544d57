"""The stock event stream behind ``GET /api/inventory/stream`` (Server-Sent Events).

Per connection, changes are coalesced per product: at most one event per product per
throttle interval (1 s, the seed's throttle), carrying the latest level of each SKU that
changed. Event ids are millisecond timestamps of the change, so a client reconnecting
with ``Last-Event-ID`` first gets the current level of every product that changed since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tillpoint.inventory.feed import StockChange
from tillpoint.inventory.models import InventoryItem
from tillpoint.runtime import Runtime


def _event(rt: Runtime, product_id: str, changes: Sequence[StockChange]) -> dict[str, Any]:
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
    return {
        "id": max(c.event_id for c in changes),
        "event": "stock",
        "data": json.dumps({"product_id": product_id, "skus": skus}),
    }


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
        if last_event_id is not None:
            for change in await _changed_since(rt, product_ids, last_event_id):
                received(change)
        last_sent: dict[str, float] = {}
        while True:
            now = loop.time()
            for pid in sorted(pending):
                if now - last_sent.get(pid, float("-inf")) >= throttle:
                    yield _event(rt, pid, list(pending.pop(pid).values()))
                    last_sent[pid] = now
            wake.clear()
            waits = [last_sent[pid] + throttle - now for pid in pending if pid in last_sent]
            timeout = max(min(waits), 0.01) if waits else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    finally:
        subscription.close()
