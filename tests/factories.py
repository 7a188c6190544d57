"""Build real objects through the services (never by writing rows by hand)."""

from __future__ import annotations

from typing import Any

from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime


async def demo_catalog(rt: Runtime) -> dict[str, Product]:
    """Seed the demo catalog; return products by SKU (variants loaded)."""
    from sqlalchemy import select

    await seed_demo_catalog(rt)
    async with rt.db.transaction() as s:
        rows = (await s.scalars(select(Product))).all()
    return {p.sku: p for p in rows}


async def product(
    rt: Runtime,
    *,
    price: int = 1000,
    currency: str | None = None,
    active: bool = True,
    variants: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Product:
    """One product (optionally with variants) added through the ORM in one unit of work."""
    pid = new_id("prod")
    sku = fields.pop("sku", f"SKU-{pid[-8:]}")
    async with rt.db.transaction() as s:
        p = Product(
            id=pid,
            sku=sku,
            slug=sku.lower(),
            name=fields.pop("name", f"Product {sku}"),
            description="",
            category=fields.pop("category", "general"),
            tags=fields.pop("tags", []),
            price=price,
            currency=currency or rt.settings.default_currency,
            weight_grams=fields.pop("weight_grams", 100),
            tax_category=fields.pop("tax_category", "standard"),
            active=active,
            meta={},
            **fields,
        )
        s.add(p)
        for pos, v in enumerate(variants or []):
            s.add(
                ProductVariant(
                    id=new_id("var"),
                    product_id=pid,
                    sku=v.get("sku", f"{sku}-{pos}"),
                    name=v.get("name", f"V{pos}"),
                    price=v.get("price"),
                    attributes=v.get("attributes", {}),
                    position=pos,
                    active=v.get("active", True),
                )
            )
    async with rt.db.transaction() as s:
        loaded = await s.get(Product, pid)
        assert loaded is not None
        return loaded


async def coupon(rt: Runtime, code: str | None = None, **fields: Any) -> Any:
    """One coupon through the admin service; valid from an hour ago for a day by default."""
    from datetime import timedelta

    from tillpoint.promotions.admin import CouponDraft, create_coupon

    now = rt.clock.now()
    values: dict[str, Any] = {
        "code": code or new_id("c")[-12:].upper(),
        "type": "percentage",
        "value": 1000,
        "start_date": now - timedelta(hours=1),
        "end_date": now + timedelta(days=1),
    }
    values.update(fields)
    for name in ("applicable_products", "excluded_products"):
        if name in values:
            values[name] = tuple(values[name])
    return await create_coupon(rt, CouponDraft(**values))
