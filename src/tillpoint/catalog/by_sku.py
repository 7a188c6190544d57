"""Finding what a SKU sells (a product without variants, or one variant)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.catalog.service import Sellable, resolve_sellable
from tillpoint.errors import TillpointError


async def sellable_by_sku(s: AsyncSession, sku: str) -> Sellable | None:
    """The active product or variant with this SKU, if it can be sold now; None otherwise
    (unknown, inactive, or a product that must be bought as one of its variants)."""
    product_id = await s.scalar(select(Product.id).where(Product.sku == sku))
    variant_id: str | None = None
    if product_id is None:
        row = (
            await s.execute(
                select(ProductVariant.product_id, ProductVariant.id).where(
                    ProductVariant.sku == sku
                )
            )
        ).first()
        if row is None:
            return None
        product_id, variant_id = row
    try:
        return await resolve_sellable(s, product_id, variant_id)
    except TillpointError:
        return None
