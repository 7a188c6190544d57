"""The demo shop's catalog: a dozen products, some with variants. Seeding is idempotent
(products are keyed by SKU), so ``tillpoint demo`` can run again safely."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime

# sku, name, category, tags, price (minor units), weight g, tax category, variants
DEMO: list[dict[str, Any]] = [
    {
        "sku": "MUG-STONE",
        "name": "Stoneware Mug",
        "category": "kitchen",
        "tags": ["ceramic", "gift"],
        "price": 1800,
        "weight": 450,
        "tax": "standard",
        "variants": [
            ("MUG-STONE-SAND", "Sand", {"colour": "sand"}),
            ("MUG-STONE-SLATE", "Slate", {"colour": "slate"}),
        ],
    },
    {
        "sku": "TEA-SENCHA",
        "name": "Sencha Green Tea, 100 g",
        "category": "pantry",
        "tags": ["tea"],
        "price": 1250,
        "weight": 120,
        "tax": "reduced",
        "variants": [],
    },
    {
        "sku": "TEA-ASSAM",
        "name": "Assam Breakfast Tea, 250 g",
        "category": "pantry",
        "tags": ["tea"],
        "price": 1490,
        "weight": 270,
        "tax": "reduced",
        "variants": [],
    },
    {
        "sku": "KETTLE-GOOSE",
        "name": "Gooseneck Kettle",
        "category": "kitchen",
        "tags": ["tea", "coffee"],
        "price": 6900,
        "weight": 1200,
        "tax": "standard",
        "variants": [],
    },
    {
        "sku": "TSHIRT-ORG",
        "name": "Organic Cotton T-Shirt",
        "category": "apparel",
        "tags": ["cotton"],
        "price": 2500,
        "weight": 180,
        "tax": "standard",
        "variants": [(f"TSHIRT-ORG-{s}", f"Size {s}", {"size": s}) for s in ("S", "M", "L", "XL")],
    },
    {
        "sku": "SOCKS-WOOL",
        "name": "Merino Wool Socks",
        "category": "apparel",
        "tags": ["wool", "gift"],
        "price": 1600,
        "weight": 90,
        "tax": "standard",
        "variants": [
            ("SOCKS-WOOL-SM", "S/M", {"size": "S/M"}),
            ("SOCKS-WOOL-LXL", "L/XL", {"size": "L/XL"}),
        ],
    },
    {
        "sku": "BOOK-BREW",
        "name": "The Home Brewer's Handbook",
        "category": "books",
        "tags": ["coffee"],
        "price": 2999,
        "weight": 650,
        "tax": "reduced",
        "variants": [],
    },
    {
        "sku": "CANDLE-CEDAR",
        "name": "Cedar & Smoke Candle",
        "category": "home",
        "tags": ["gift"],
        "price": 3200,
        "weight": 400,
        "tax": "standard",
        "variants": [],
    },
    {
        "sku": "BEANS-HOUSE",
        "name": "House Blend Coffee Beans, 1 kg",
        "category": "pantry",
        "tags": ["coffee"],
        "price": 2800,
        "weight": 1050,
        "tax": "reduced",
        "variants": [],
    },
    {
        "sku": "TOTE-CANVAS",
        "name": "Canvas Tote Bag",
        "category": "apparel",
        "tags": ["cotton", "gift"],
        "price": 1500,
        "weight": 250,
        "tax": "standard",
        "variants": [],
    },
    {
        "sku": "GIFTCARD-50",
        "name": "Gift Card (50)",
        "category": "gift-cards",
        "tags": ["gift"],
        "price": 5000,
        "weight": 0,
        "tax": "exempt",
        "variants": [],
    },
    {
        "sku": "GRINDER-BURR",
        "name": "Hand Burr Grinder",
        "category": "kitchen",
        "tags": ["coffee"],
        "price": 8900,
        "weight": 700,
        "tax": "standard",
        "variants": [],
    },
]


async def seed_demo_catalog(rt: Runtime, currency: str | None = None) -> int:
    """Insert the demo products that are missing; returns how many were added."""
    currency = currency or rt.settings.default_currency
    added = 0
    async with rt.db.transaction() as s:
        existing = set((await s.scalars(select(Product.sku))).all())
        for item in DEMO:
            if item["sku"] in existing:
                continue
            pid = new_id("prod")
            product = Product(
                id=pid,
                sku=item["sku"],
                slug=item["sku"].lower(),
                name=item["name"],
                description=f"{item['name']} from the tillpoint demo shop.",
                category=item["category"],
                tags=item["tags"],
                price=item["price"],
                currency=currency,
                weight_grams=item["weight"],
                tax_category=item["tax"],
                active=True,
                meta={},
            )
            s.add(product)
            for pos, (sku, name, attrs) in enumerate(item["variants"]):
                s.add(
                    ProductVariant(
                        id=new_id("var"),
                        product_id=pid,
                        sku=sku,
                        name=name,
                        attributes=attrs,
                        position=pos,
                        active=True,
                    )
                )
            added += 1
    return added
