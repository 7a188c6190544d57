"""Builders for inventory tests: stocked products made through the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests import factories
from tillpoint.catalog.models import Product
from tillpoint.inventory.levels import adjust_stock
from tillpoint.inventory.models import InventoryItem
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
