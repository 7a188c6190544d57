"""Unlisted products: what a checkout session's ``price_data`` line sells.

A shop that keeps its own catalog sends name, unit amount, currency and tax category per
line. Each distinct combination becomes one product of the category ``_unlisted`` (never
on the catalog pages or the product API listing, sold like any other, no stock record so
its stock is untracked), with a SKU derived from the combination. Chosen over lines
without a product because the cart, pricing, tax, stock and order code then stay one
path: every line is a product line, and orders and refunds need no second kind."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.catalog.models import Product
from tillpoint.catalog.service import UNLISTED
from tillpoint.ids import new_id


@dataclass(frozen=True, slots=True)
class PriceData:
    name: str
    unit_amount: int
    currency: str
    tax_category: str = "standard"

    @property
    def sku(self) -> str:
        text = "\x1f".join((self.name, str(self.unit_amount), self.currency, self.tax_category))
        return "PD-" + hashlib.sha256(text.encode()).hexdigest()[:24].upper()


async def unlisted_product(s: AsyncSession, data: PriceData) -> str:
    """The id of the unlisted product selling ``data`` (made on first use, race-safe)."""
    sku = data.sku
    found = await s.scalar(select(Product.id).where(Product.sku == sku))
    if found is not None:
        return found
    product_id = new_id("prod")
    try:
        async with s.begin_nested():
            s.add(
                Product(
                    id=product_id, sku=sku, slug=sku.lower(), name=data.name,
                    price=data.unit_amount, currency=data.currency, category=UNLISTED,
                    tax_category=data.tax_category, description="", tags=[], images=[],
                    active=True, meta={}, variants=[],
                )
            )  # fmt: skip
    except IntegrityError:  # another request made it first
        existing = await s.scalar(select(Product.id).where(Product.sku == sku))
        assert existing is not None
        return existing
    return product_id
