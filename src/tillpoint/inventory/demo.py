"""Stock levels for the demo catalog: plenty of most things, one low, one on backorder,
one size sold out (to try the waitlist); the gift card stays untracked (always available)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tillpoint.inventory.levels import seed_stock
from tillpoint.runtime import Runtime

DEMO_STOCK: dict[str, dict[str, Any]] = {
    "MUG-STONE-SAND": {"on_hand": 40},
    "MUG-STONE-SLATE": {"on_hand": 12},
    "TEA-SENCHA": {"on_hand": 120},
    "TEA-ASSAM": {"on_hand": 80},
    "KETTLE-GOOSE": {"on_hand": 0, "backorder_allowed": True, "backorder_estimate": "2-3 weeks"},
    "TSHIRT-ORG-S": {"on_hand": 15},
    "TSHIRT-ORG-M": {"on_hand": 30},
    "TSHIRT-ORG-L": {"on_hand": 22},
    "TSHIRT-ORG-XL": {"on_hand": 0},
    "SOCKS-WOOL-SM": {"on_hand": 60},
    "SOCKS-WOOL-LXL": {"on_hand": 45},
    "BOOK-BREW": {"on_hand": 25},
    "CANDLE-CEDAR": {"on_hand": 18},
    "BEANS-HOUSE": {"on_hand": 200},
    "TOTE-CANVAS": {"on_hand": 75},
    "GRINDER-BURR": {"on_hand": 3, "low_stock_threshold": 5},
}


async def seed_demo_stock(rt: Runtime) -> int:
    """Give the demo catalog its stock rows (idempotent); returns rows added."""
    levels = {sku: dict(fields) for sku, fields in DEMO_STOCK.items()}
    levels["TSHIRT-ORG-XL"]["restock_date"] = (rt.clock.now() + timedelta(days=21)).date()
    return await seed_stock(rt, levels)
