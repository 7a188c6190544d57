"""Stock levels the catalog page is drawn with (the live stream updates them after)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillpoint.inventory.public import level_of, stock_rows
from tillpoint.runtime import Runtime


async def catalog_levels(
    rt: Runtime, product_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per product, each tracked SKU's ``{variant_id, available, in_stock}``, in one query.
    Untracked products are absent (always available: no badge)."""
    async with rt.db.transaction() as s:
        rows = await stock_rows(s, [(pid, None) for pid in product_ids])
    levels: dict[str, list[dict[str, Any]]] = {}
    for (product_id, variant_id), row in sorted(rows.items(), key=lambda kv: kv[1].sku):
        level = level_of(rt, row)
        levels.setdefault(product_id, []).append(
            {"variant_id": variant_id, "available": level.available, "in_stock": level.in_stock}
        )
    return levels
