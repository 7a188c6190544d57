"""Reservations per second under contention, on PostgreSQL, with an oversell check.

Two scenarios, each run by CONCURRENCY workers through ``reserve_inventory`` (one unit
per reservation, each its own transaction, as a checkout's CONFIRM_ORDER does):

- ``hot_sku``: every attempt targets one SKU holding fewer units than there are attempts;
- ``spread_1000_skus``: attempts pick one of 1,000 SKUs at random.

Afterwards the database is checked: no SKU has more reserved than on hand, and the units
reserved equal the successful reservations. Prints one JSON document.

    python -m bench.reservations [--attempts 4000] [--concurrency 32]
        [--admin-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from typing import Any

import asyncpg
from sqlalchemy import func, select

from tillpoint.bootstrap import build_runtime
from tillpoint.catalog.models import Product
from tillpoint.config import load_settings
from tillpoint.ids import new_id
from tillpoint.inventory.errors import OutOfStock
from tillpoint.inventory.levels import seed_stock
from tillpoint.inventory.models import InventoryItem, InventoryReservation
from tillpoint.inventory.reservations import StockRequest, reserve_inventory
from tillpoint.migrate import upgrade
from tillpoint.runtime import Runtime


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _products(rt: Runtime, count: int, prefix: str, on_hand: int) -> list[str]:
    ids = [new_id("prod") for _ in range(count)]
    async with rt.db.transaction() as s:
        for n, pid in enumerate(ids):
            sku = f"{prefix}-{n:05d}"
            s.add(
                Product(
                    id=pid, sku=sku, slug=sku.lower(), name=sku, description="", category="bench",
                    tags=[], price=1000, currency="USD", weight_grams=100,
                    tax_category="standard", active=True, meta={},
                )
            )  # fmt: skip
    await seed_stock(rt, {f"{prefix}-{n:05d}": {"on_hand": on_hand} for n in range(count)})
    return ids


async def _run(
    rt: Runtime, name: str, product_ids: list[str], attempts: int, concurrency: int
) -> dict[str, Any]:
    rng = random.Random(7)
    plan = [rng.choice(product_ids) for _ in range(attempts)]
    reserved = refused = 0
    cursor = iter(enumerate(plan))

    async def worker() -> None:
        nonlocal reserved, refused
        for n, pid in cursor:
            try:
                async with rt.db.transaction() as s:
                    await reserve_inventory(rt, s, [StockRequest(pid, 1)], f"bench-{name}-{n}")
                reserved += 1
            except OutOfStock:
                refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    async with rt.db.transaction() as s:
        rows = list(
            await s.scalars(select(InventoryItem).where(InventoryItem.product_id.in_(product_ids)))
        )
        active = await s.scalar(
            select(func.count())
            .select_from(InventoryReservation)
            .where(InventoryReservation.id.like(f"bench-{name}-%"))
        )
    oversold = sum(max(r.reserved - r.on_hand, 0) for r in rows)
    units = sum(r.reserved for r in rows)
    assert oversold == 0 and units == reserved == active, (oversold, units, reserved, active)
    return {
        "skus": len(product_ids),
        "units_in_stock": sum(r.on_hand for r in rows),
        "attempts": attempts,
        "reserved": reserved,
        "refused": refused,
        "seconds": round(seconds, 3),
        "reservations_per_second": round(reserved / seconds, 1),
        "attempts_per_second": round(attempts / seconds, 1),
        "oversold_units": oversold,
        "stock_left": sum(r.on_hand - r.reserved for r in rows),
    }


async def main(admin_url: str, attempts: int, concurrency: int) -> dict[str, Any]:
    name = f"tillpoint_bench_{os.getpid()}"
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = admin_url.rpartition("/")[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade, url)
        settings = load_settings(
            mode="test",
            database_url=url,
            database_pool_size=concurrency,
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            log_level="WARNING",
        )
        rt = build_runtime(settings)
        try:
            hot = await _products(rt, 1, "HOT", on_hand=attempts * 3 // 4)
            spread = await _products(rt, 1000, "SPREAD", on_hand=max(attempts // 1000, 1) * 3)
            return {
                "benchmark": "reservations",
                "backend": "postgresql",
                "concurrency": concurrency,
                "hot_sku": await _run(rt, "hot", hot, attempts, concurrency),
                "spread_1000_skus": await _run(rt, "spread", spread, attempts, concurrency),
            }
        finally:
            await rt.close()
    finally:
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TILLPOINT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.admin_url, args.attempts, args.concurrency)), indent=2))
