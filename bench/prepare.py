"""``tillpoint bench prepare``: a fresh, migrated, seeded database for a benchmark server.

Creates the PostgreSQL database named in ``--database-url`` (dropping it first
with ``--fresh``), applies every migration, seeds the demo catalog with every SKU
deep in stock and the ``BENCH10`` coupon (10 %, unlimited), then prints the
command that serves it. The benchmarks themselves start nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select

from tillpoint.bootstrap import build_runtime
from tillpoint.catalog.demo import seed_demo_catalog
from tillpoint.catalog.models import Product, ProductVariant
from tillpoint.config import load_settings
from tillpoint.errors import Conflict
from tillpoint.inventory.levels import seed_stock
from tillpoint.migrate import upgrade
from tillpoint.promotions.admin import CouponDraft, create_coupon


async def create_database(database_url: str, *, fresh: bool) -> bool:
    """Create the URL's database if missing (drop it first if ``fresh``); True if created."""
    parts = urlsplit(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        if fresh:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        return not exists
    finally:
        await conn.close()


BENCH_STOCK = 10_000_000  # the most one SKU may hold: a long run never sells out
COUPON_CODE = "BENCH10"


async def seed(database_url: str) -> dict[str, Any]:
    """The demo catalog, every SKU deep in stock, and the 10 % coupon the flows apply."""
    rt = build_runtime(load_settings(database_url=database_url, background_tasks=False))
    try:
        added = await seed_demo_catalog(rt)
        async with rt.db.transaction() as s:
            skus = list(await s.scalars(select(ProductVariant.sku)))
            skus += list(await s.scalars(select(Product.sku).where(~Product.variants.any())))
        stocked = await seed_stock(rt, {sku: {"on_hand": BENCH_STOCK} for sku in skus})
        now = rt.clock.now()
        try:
            await create_coupon(
                rt,
                CouponDraft(
                    code=COUPON_CODE,
                    type="percentage",
                    value=1000,
                    start_date=now - timedelta(days=1),
                    end_date=now + timedelta(days=365),
                ),
            )
            coupon = "created"
        except Conflict:
            coupon = "exists"
        return {
            "products_added": added,
            "skus_stocked": stocked,
            "coupon": COUPON_CODE + " " + coupon,
        }
    finally:
        await rt.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tillpoint bench prepare", description=__doc__)
    p.add_argument(
        "--database-url",
        default=os.environ.get(
            "TILLPOINT_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/tillpoint_bench"
        ),
    )
    p.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = p.parse_args(argv)
    report: dict[str, Any] = {"database_url": args.database_url}
    if args.database_url.startswith("postgresql"):
        report["created"] = asyncio.run(create_database(args.database_url, fresh=args.fresh))
    upgrade(args.database_url)
    report.update(asyncio.run(seed(args.database_url)))
    report["serve"] = (
        f"TILLPOINT_DATABASE_URL={args.database_url} TILLPOINT_REDIS_URL=redis://127.0.0.1:6379/0"
        " tillpoint serve --workers 2"
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
