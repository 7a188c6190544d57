"""``tillpoint bench stampede``: 1,000 shoppers race for 100 units of one product over HTTP.

Creates (through the services, in ``--database-url``) a fresh product with
``--units`` in stock and, with ``--coupon-limit N``, a 10 % coupon usable N times
that every shopper tries. Then all ``--shoppers`` start at once against the
running server (``--url``): session, add the product, (coupon), guest checkout,
CONFIRM_ORDER, pay with the sandbox card. While they race, a watcher reads the
product's stock row every few milliseconds.

It must end with exactly ``--units`` orders, stock at 0 and never below, every
other shopper refused with a clear out-of-stock error and no money moved for them
(no charge later refunded), no 5xx, and exactly N discounted orders. A shopper whose
coupon runs out is refused before paying (422 at apply, or 409 ``coupon_exhausted``
at CONFIRM_ORDER, which takes the coupon off) and buys at full price instead. Prints JSON
(outcomes by kind, wall time, the database's view) and exits 1 if any of that fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.flows import apply_coupon, confirm_order, guest_checkout_to_review
from bench.load import wait_until_up
from bench.recorder import Recorder
from bench.shopper import FlowError, Shopper, open_transport
from tillpoint.bootstrap import build_runtime
from tillpoint.catalog.models import Product
from tillpoint.config import load_settings
from tillpoint.ids import new_id
from tillpoint.inventory.levels import adjust_stock
from tillpoint.promotions.admin import CouponDraft, create_coupon

OUT_OF_STOCK = {"out_of_stock", "cart_invalid", "insufficient_stock"}


@dataclass
class Hot:
    product_id: str
    coupon_code: str | None


async def create_hot_product(database_url: str, units: int, coupon_limit: int) -> Hot:
    """A new product with ``units`` in stock, and a coupon limited to ``coupon_limit`` uses."""
    rt = build_runtime(load_settings(database_url=database_url, background_tasks=False))
    tag = secrets.token_hex(4).upper()
    try:
        pid = new_id("prod")
        async with rt.db.transaction() as s:
            s.add(
                Product(
                    id=pid,
                    sku=f"HOT-{tag}",
                    slug=f"hot-{tag.lower()}",
                    name=f"Limited drop {tag}",
                    description="",
                    category="drops",
                    tags=[],
                    price=4900,
                    currency=rt.settings.default_currency,
                    weight_grams=300,
                    tax_category="standard",
                    active=True,
                    meta={},
                )
            )
        await adjust_stock(rt, pid, on_hand=units, reason="stampede benchmark")
        code = None
        if coupon_limit:
            code = f"RUSH-{tag}"
            now = rt.clock.now()
            await create_coupon(
                rt,
                CouponDraft(
                    code=code,
                    type="percentage",
                    value=1000,
                    start_date=now - timedelta(hours=1),
                    end_date=now + timedelta(days=1),
                    usage_limit=coupon_limit,
                ),
            )
        return Hot(pid, code)
    finally:
        await rt.close()


@dataclass
class Result:
    kind: str  # ordered | out_of_stock | coupon_refused_then_ordered | error
    stage: str = ""
    status: int | str = 200
    code: str | None = None
    discounted: bool = False
    order_id: str | None = None
    checkout_id: str | None = None


async def _arrive(shopper: Shopper) -> None:
    """Open the shopper's session before the gun. 1,000 sessions at once can find the
    server busy (503 ``server_busy`` or ``database_busy``, with ``Retry-After``): the shopper
    retries as asked, as a browser reload would. These requests are not counted in the race."""
    for attempt in range(10):
        try:
            # As new_visit, but the connection closes after the answer: the shopper waits
            # for the gun longer than the server keeps an idle connection (uvicorn: 5 s),
            # and a POST on a connection the server is closing fails in the client.
            shopper.transport.forget_cookies()
            shopper.csrf = None
            r = await shopper.call(
                "GET", "/api/session", "GET /api/session", headers={"Connection": "close"}
            )
            shopper.session = r.json()
            shopper.csrf = shopper.session["csrf_token"]
            return
        except FlowError as exc:
            if exc.status != 503 or attempt == 9:
                raise
            await asyncio.sleep(2)


async def shop(
    url: str, hot: Hot, n: int, go: asyncio.Event, recorder: Recorder, ready: Counter[str]
) -> Result:
    """One shopper's attempt to buy one unit (with the coupon, if there is one)."""
    async with open_transport("aiohttp", url, 300) as transport:
        shopper = Shopper(transport, recorder)
        await _arrive(shopper)
        ready["shoppers"] += 1
        await go.wait()
        checkout_id = None
        stage = "add"
        try:
            await shopper.call(
                "POST",
                "/api/cart/items",
                "POST /api/cart/items",
                json={"product_id": hot.product_id, "quantity": 1},
            )
            coupon_refused = False
            if hot.coupon_code:
                stage = "coupon"
                try:
                    await apply_coupon(shopper, hot.coupon_code)
                except FlowError as exc:
                    if exc.status != 422:
                        raise
                    coupon_refused = True
            stage = "checkout"
            review = await guest_checkout_to_review(shopper, f"rush{n}@example.com")
            checkout_id = review["id"]
            stage = "confirm"
            # A coupon that ran out meanwhile is refused here, before any payment exists
            # (409 coupon_exhausted, coupon off the cart): the shopper buys at full price.
            confirmed, refusals = await confirm_order(shopper, checkout_id)
            coupon_refused = coupon_refused or "coupon_exhausted" in refusals
            discounted = confirmed["context"]["totals"]["discount"] > 0
            stage = "payment"
            r = await shopper.call(
                "POST",
                "/api/payment/confirm",
                "POST /api/payment/confirm",
                json={"checkout_id": checkout_id},
            )
            paid: dict[str, Any] = r.json()
        except FlowError as exc:
            kind = "out_of_stock" if exc.code in OUT_OF_STOCK else "error"
            return Result(kind, stage, exc.status, exc.code, checkout_id=checkout_id)
        if paid["state"] != "order_confirmation" or not paid.get("order_id"):
            return Result("error", "payment", 200, paid["state"], checkout_id=checkout_id)
        kind = "coupon_refused_then_ordered" if coupon_refused else "ordered"
        return Result(kind, "", 200, None, discounted, paid["order_id"], checkout_id)


async def watch_stock(database_url: str, product_id: str, stop: asyncio.Event) -> dict[str, int]:
    """Read the product's stock row until ``stop``; the lowest values seen."""
    engine = create_async_engine(database_url)
    low = {"min_on_hand": 10**9, "min_available": 10**9, "reads": 0}
    try:
        async with engine.connect() as conn:
            while not stop.is_set():
                row = (
                    await conn.execute(
                        text("SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
                        {"p": product_id},
                    )
                ).one()
                await conn.rollback()
                low["min_on_hand"] = min(low["min_on_hand"], row[0])
                low["min_available"] = min(low["min_available"], row[0] - row[1])
                low["reads"] += 1
                await asyncio.sleep(0.005)
    finally:
        await engine.dispose()
    return low


async def database_view(database_url: str, hot: Hot, checkout_ids: list[str]) -> dict[str, Any]:
    """What the database says after the race: orders, stock, coupon usage, money."""
    engine = create_async_engine(database_url)
    ids: Any = bindparam("ids", expanding=True)
    try:
        async with engine.connect() as conn:
            stock = (
                await conn.execute(
                    text("SELECT on_hand, reserved FROM inventory WHERE product_id = :p"),
                    {"p": hot.product_id},
                )
            ).one()
            orders = (
                await conn.execute(
                    text(
                        "SELECT o.id, o.discount_total, o.checkout_id FROM orders o"
                        " JOIN order_lines l ON l.order_id = o.id WHERE l.product_id = :p"
                    ),
                    {"p": hot.product_id},
                )
            ).all()
            attempts: dict[str, int] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT status, count(*) FROM payment_attempts"
                            " WHERE checkout_id IN :ids GROUP BY status"
                        ).bindparams(ids),
                        {"ids": checkout_ids or ["-"]},
                    )
                ).all()
            )
            refunds = await conn.scalar(
                text(
                    "SELECT count(*) FROM refunds r JOIN orders o ON o.id = r.order_id"
                    " JOIN order_lines l ON l.order_id = o.id WHERE l.product_id = :p"
                ),
                {"p": hot.product_id},
            )
            usage = None
            if hot.coupon_code:
                usage = await conn.scalar(
                    text("SELECT usage_count FROM coupons WHERE code = :c"), {"c": hot.coupon_code}
                )
    finally:
        await engine.dispose()
    return {
        "on_hand": stock[0],
        "reserved": stock[1],
        "orders": len(orders),
        "discounted_orders": sum(1 for o in orders if o[1] > 0),
        "payment_attempts_by_status": attempts,
        "refunds": refunds,
        "coupon_usage_count": usage,
    }


async def race(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=args.url) as client:
        await wait_until_up(client, 30)
    hot = await create_hot_product(args.database_url, args.units, args.coupon_limit)
    recorder = Recorder()
    go = asyncio.Event()
    stop = asyncio.Event()
    ready: Counter[str] = Counter()
    tasks = [
        asyncio.create_task(shop(args.url, hot, n, go, recorder, ready))
        for n in range(args.shoppers)
    ]
    # Every shopper has its session before the gun: the race is for the product only.
    while ready["shoppers"] < args.shoppers:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    watcher = asyncio.create_task(watch_stock(args.database_url, hot.product_id, stop))
    recorder.reset()
    started = time.perf_counter()
    go.set()
    progress = Progress(
        "[bold]stampede",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=True,
    )
    with progress:
        bar = progress.add_task("race", total=len(tasks))
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.2)
            progress.update(bar, completed=sum(t.done() for t in tasks))
    wall = time.perf_counter() - started
    recorder.stop()
    stop.set()
    low = await watcher
    results = [t.result() for t in tasks]
    checkout_ids = [r.checkout_id for r in results if r.checkout_id]
    db = await database_view(args.database_url, hot, checkout_ids)
    kinds = Counter(r.kind for r in results)
    refusals = Counter(f"{r.stage}: {r.status} {r.code}" for r in results if not r.order_id)
    ordered = [r for r in results if r.order_id]
    five_xx = sum(n for s, n in recorder.statuses.items() if s.startswith("5"))
    expected_discounted = min(args.coupon_limit, args.units) if hot.coupon_code else 0
    charged = int(db["payment_attempts_by_status"].get("succeeded", 0))
    checks = {
        "exactly_units_orders": len(ordered) == args.units == db["orders"],
        "stock_ends_at_zero": db["on_hand"] == 0 and db["reserved"] == 0,
        "stock_never_negative": low["min_on_hand"] >= 0 and low["min_available"] >= 0,
        "others_refused_out_of_stock": kinds["out_of_stock"] == args.shoppers - args.units,
        "no_errors": kinds["error"] == 0,
        "no_5xx": five_xx == 0,
        # Money moves only for the winners: nobody charged and then refunded.
        "no_charge_without_order": charged == db["orders"]
        and not db["refunds"]
        and not db["payment_attempts_by_status"].get("refunded"),
        "discounted_orders_exact": db["discounted_orders"] == expected_discounted
        and sum(r.discounted for r in ordered) == expected_discounted
        and db["coupon_usage_count"] in (None, expected_discounted),
    }
    return {
        "shoppers": args.shoppers,
        "units": args.units,
        "coupon_limit": args.coupon_limit,
        "product_id": hot.product_id,
        "coupon_code": hot.coupon_code,
        "wall_time_s": round(wall, 2),
        "outcomes": dict(kinds),
        "refusals": dict(refusals.most_common()),
        "statuses": dict(recorder.statuses),
        "stock_watch": low,
        "database": db,
        "checks": checks,
        "ok": all(checks.values()),
        "latency": recorder.summary()["endpoints"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tillpoint bench stampede", description=__doc__)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument(
        "--database-url",
        default=os.environ.get("TILLPOINT_DATABASE_URL"),
        help="the server's database (the product is created and checked there)",
    )
    p.add_argument("--shoppers", type=int, default=1000)
    p.add_argument("--units", type=int, default=100)
    p.add_argument("--coupon-limit", type=int, default=0, help="also race for an N-use coupon")
    p.add_argument("--output", default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not args.database_url:
        p.error("--database-url (or TILLPOINT_DATABASE_URL) is required")
    report = asyncio.run(race(args, Console(stderr=True)))
    text_out = json.dumps(report, indent=2)
    print(text_out)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text_out + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
