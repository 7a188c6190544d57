"""Admin stock: set or adjust a SKU's level with a reason, list low stock."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field, Strict, WithJsonSchema

from tillpoint.catalog import public as catalog_public
from tillpoint.inventory import public as inventory_public
from tillpoint.inventory.public import MAX_ON_HAND
from tillpoint.web.deps import AdminDep, RuntimeDep, request_actor
from tillpoint.web.routing import TypedPathRoute
from tillpoint.web.schemas import IsoDate, StrictModel, Whole, WholeNumber, error_responses

router = APIRouter(prefix="/api/admin/inventory", tags=["admin"], route_class=TypedPathRoute)

# Checked by the stock service, with its own codes; the schema states the same bounds.
StockLevel = Annotated[
    WholeNumber, WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ON_HAND})
]


class AdjustIn(StrictModel):
    """Exactly one of ``on_hand`` (absolute) or ``delta``, or neither to change settings."""

    reason: str = Field(min_length=1, max_length=500)
    on_hand: StockLevel | None = Field(
        default=None,
        description="Below 0: 422 negative_stock; above the cap: 422 stock_too_large.",
    )
    delta: Annotated[int, Field(ge=-10_000_000, le=10_000_000), Strict(), Whole] | None = None
    variant_id: str | None = Field(default=None, max_length=40)
    backorder_allowed: bool | None = None
    backorder_estimate: str | None = Field(default=None, max_length=80)
    restock_date: IsoDate | None = None
    low_stock_threshold: Annotated[int, Field(ge=0, le=1_000_000), Strict(), Whole] | None = None


@router.put("/{product_id}", responses=error_responses(401, 403, 404, 422))
async def adjust(
    product_id: Annotated[str, Path(max_length=40, pattern=catalog_public.PRODUCT_ID_PATTERN)],
    body: AdjustIn,
    request: Request,
    rt: RuntimeDep,
    admin: AdminDep,
) -> dict[str, Any]:
    """Set (``on_hand``) or move (``delta``) a product's or variant's stock; the reason
    goes to the audit log."""
    actor = request_actor(request, admin)
    row = await inventory_public.adjust_stock(
        rt,
        product_id,
        reason=body.reason,
        variant_id=body.variant_id,
        on_hand=body.on_hand,
        delta=body.delta,
        backorder_allowed=body.backorder_allowed,
        backorder_estimate=body.backorder_estimate,
        restock_date=body.restock_date,
        low_stock_threshold=body.low_stock_threshold,
        actor=actor,
    )
    return asdict(row)


@router.get("", responses=error_responses(401, 403, 422))
async def low_stock(
    rt: RuntimeDep,
    admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    # A SKU (the last one listed), screened as every identifier is: not an opaque token.
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """SKUs at or below their low-stock threshold, by SKU (``next_cursor`` continues)."""
    rows = await inventory_public.low_stock(rt, limit=limit + 1, after=cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [asdict(r) for r in rows],
        "next_cursor": rows[-1].sku if more and rows else None,
    }
