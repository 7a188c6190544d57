"""Builders for inventory tests: stocked products made through the services, and the
reservation functions each in a unit of work of its own (as an edge would call them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from tests import factories
from tillpoint.catalog.models import Product
from tillpoint.inventory import reservations
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.models import InventoryItem
from tillpoint.inventory.reservations import Reservation, StockRequest
from tillpoint.runtime import Runtime


async def stocked(rt: Runtime, on_hand: int, **fields: Any) -> Product:
    """A product with ``on_hand`` units in stock (backorder etc. via ``fields``)."""
    stock_fields = {
        k: fields.pop(k)
        for k in ("backorder_allowed", "backorder_estimate", "restock_date", "low_stock_threshold")
        if k in fields
    }
    product = await factories.product(rt, **fields)
    await adjust_stock(rt, product.id, on_hand=on_hand, reason="test stock", **stock_fields)
    return product


async def level(rt: Runtime, product_id: str, variant_id: str | None = None) -> InventoryItem:
    async with rt.db.transaction() as s:
        q = select(InventoryItem).where(InventoryItem.product_id == product_id)
        q = q.where(
            InventoryItem.variant_id == variant_id
            if variant_id
            else InventoryItem.variant_id.is_(None)
        )
        row = await s.scalar(q)
        assert row is not None
        return row


async def reserve(
    rt: Runtime, items: Sequence[StockRequest], reservation_id: str, **options: Any
) -> Reservation:
    """:func:`~tillpoint.inventory.reservations.reserve_inventory` in its own unit of work."""
    async with rt.db.transaction() as s:
        return await reservations.reserve_inventory(rt, s, items, reservation_id, **options)


async def extend(rt: Runtime, reservation_id: str, **options: Any) -> Reservation:
    async with rt.db.transaction() as s:
        return await reservations.extend_reservation(rt, s, reservation_id, **options)


async def release(rt: Runtime, reservation_id: str) -> Reservation:
    async with rt.db.transaction() as s:
        return await reservations.release_reservation(rt, s, reservation_id)


async def fulfill(rt: Runtime, reservation_id: str) -> Reservation:
    async with rt.db.transaction() as s:
        return await reservations.fulfill_reservation(rt, s, reservation_id)
