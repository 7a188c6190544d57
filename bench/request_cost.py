"""Fixed CPU cost per request: the app driven in process, no network, no load.

Builds a guest with a filled cart and a checkout at order review on ``--database-url``
(prepared by ``tillpoint bench prepare``), then sends each representative request
``--repeat`` times straight into the ASGI app (``httpx.ASGITransport``) and reports the
median process CPU time per request in µs and the SQL statements it sent. ``floor`` is a
bare FastAPI endpoint through the same transport: what a request costs before our code;
``GET /healthz`` adds our middleware; the ``db:`` rows are the database layer alone (a unit
of work with one or two reads, an autocommit read, the same read on asyncpg itself).
Several ``--rounds`` interleave the requests so a burst of load on the machine hits them
all alike; the median is over every sample. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, text

from bench.flows import ADDRESS, CARD, GUEST
from bench.queries import in_process_parser, in_process_settings, parse_in_process
from tillpoint.bootstrap import build_runtime
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app


def _floor_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app


async def guest_at_order_review(client: httpx.AsyncClient, email: str) -> str:
    """A new guest (``client`` keeps its cookies and CSRF header) with two products in the
    cart and a checkout walked to order review; the checkout's id."""
    session = (await client.get("/api/session")).json()
    client.headers["X-CSRF-Token"] = session["csrf_token"]
    products = (await client.get("/api/products", params={"limit": "20"})).json()
    for p in [p for p in products["items"] if not p["variants"]][:2]:
        body = {"product_id": p["id"], "quantity": 1}
        (await client.post("/api/cart/items", json=body)).raise_for_status()
    r = await client.post("/api/checkout")
    r.raise_for_status()
    cid: str = r.json()["id"]
    events = f"/api/checkout/{cid}/events"
    for step in (
        {"type": "SELECT_GUEST"},
        {"type": "SUBMIT_GUEST_INFO", "email": email, **GUEST},
        {"type": "SUBMIT_SHIPPING", "address": ADDRESS},
        {"type": "USE_SHIPPING_ADDRESS"},
    ):
        (await client.post(events, json=step)).raise_for_status()
    options = (await client.get(f"/api/checkout/{cid}/shipping-options")).json()
    chosen = {"type": "SELECT_SHIPPING", "shipping_method_id": options["items"][0]["id"]}
    (await client.post(events, json=chosen)).raise_for_status()
    payment = {"type": "SELECT_PAYMENT", "payment_method": CARD}
    (await client.post(events, json=payment)).raise_for_status()
    return cid


class _Done:
    """What a database unit below answers, so it is timed like a request."""

    status_code = 200
    text = ""


def _database_units(rt: Runtime, checkout_id: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """What the database layer costs a request before our code: a unit of work (session,
    pooled connection, BEGIN, COMMIT) with one or two primary-key reads, an autocommit read,
    and the same read on asyncpg itself."""
    read = text("SELECT * FROM checkouts WHERE id = :id")
    params = {"id": checkout_id}

    async def unit(statements: int) -> _Done:
        async with rt.db.transaction() as s:
            conn = await s.connection()
            for _ in range(statements):
                await conn.execute(read, params)
        return _Done()

    async def autocommit() -> _Done:
        async with rt.db.reads() as s:
            await (await s.connection()).execute(read, params)
        return _Done()

    async def driver() -> _Done:
        async with rt.db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if rt.db.is_postgres:
                async with raw.transaction():
                    await raw.fetchrow("SELECT * FROM checkouts WHERE id = $1", checkout_id)
        return _Done()

    return {
        "db: unit of work, 1 SELECT": lambda: unit(1),
        "db: unit of work, 2 SELECTs": lambda: unit(2),
        "db: autocommit read, 1 SELECT": autocommit,
        "db: asyncpg itself, BEGIN + 1 SELECT + COMMIT": driver,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    settings = in_process_settings(args.database_url, args.redis_url)
    rt = build_runtime(settings)
    statements = 0

    def seen(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    checkouts = 0

    def checked_out(*_args: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    # Each transaction (or autocommit use) takes a pooled connection: a fixed cost each.
    event.listen(rt.db.engine.sync_engine.pool, "checkout", checked_out)
    app = create_app(runtime=rt)
    app_transport = httpx.ASGITransport(app=app)
    floor_transport = httpx.ASGITransport(app=_floor_app())
    cpu: dict[str, list[float]] = {}
    stmts: dict[str, int] = {}
    conns: dict[str, int] = {}

    try:
        async with (
            httpx.AsyncClient(transport=app_transport, base_url="http://localhost") as client,
            httpx.AsyncClient(transport=floor_transport, base_url="http://localhost") as floor,
        ):
            cid = await guest_at_order_review(client, "cost@example.com")
            events = f"/api/checkout/{cid}/events"
            payment = {"type": "SELECT_PAYMENT", "payment_method": CARD}

            requests: dict[str, Callable[[], Awaitable[Any]]] = {
                "floor GET /ping (bare FastAPI)": lambda: floor.get("/ping"),
                # Our middleware stack around an endpoint that does nothing.
                "GET /healthz": lambda: client.get("/healthz"),
                "GET /api/cart": lambda: client.get("/api/cart"),
                "GET /api/products": lambda: client.get("/api/products"),
                "GET /api/checkout/{id}": lambda: client.get(f"/api/checkout/{cid}"),
                "GET /api/checkout/{id}/shipping-options": lambda: client.get(
                    f"/api/checkout/{cid}/shipping-options"
                ),
                # Back and forth at order review: EDIT_PAYMENT, then SELECT_PAYMENT again.
                "POST /api/checkout/{id}/events EDIT_PAYMENT": lambda: client.post(
                    events, json={"type": "EDIT_PAYMENT"}
                ),
                "POST /api/checkout/{id}/events SELECT_PAYMENT": lambda: client.post(
                    events, json=payment
                ),
            }
            requests.update(_database_units(rt, cid))
            # The two events must alternate; each is still timed on its own.
            groups = [[name] for name in requests if "_PAYMENT" not in name]
            groups.append([name for name in requests if "_PAYMENT" in name])
            if args.only:
                groups = [g for g in groups if any(args.only in name for name in g)]
            for group in groups:  # warm caches and code paths
                for name in group:
                    r = await requests[name]()
                    if r.status_code != 200:
                        raise SystemExit(f"{name} answered {r.status_code}: {r.text[:300]}")
            for _ in range(args.rounds):
                for group in groups:
                    for _ in range(args.repeat):
                        for name in group:
                            before, before_conns = statements, checkouts
                            start = time.process_time()
                            r = await requests[name]()
                            cpu.setdefault(name, []).append(time.process_time() - start)
                            stmts[name] = statements - before
                            conns[name] = checkouts - before_conns
                            if r.status_code != 200:
                                raise SystemExit(f"{name} answered {r.status_code}")
    finally:
        await rt.close()
    return {
        "repeat": args.repeat,
        "rounds": args.rounds,
        "redis": bool(args.redis_url),
        "cpu_us_median_per_request": {n: round(statistics.median(v) * 1e6) for n, v in cpu.items()},
        # Load on a shared machine only ever adds: the low decile is the steadier figure.
        "cpu_us_p10_per_request": {
            n: round(statistics.quantiles(v, n=10)[0] * 1e6) for n, v in cpu.items()
        },
        "statements_per_request": stmts,
        "connection_checkouts_per_request": conns,
    }


def main(argv: list[str] | None = None) -> int:
    p = in_process_parser("python -m bench.request_cost", __doc__)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", help="just the requests whose name contains this")
    args = parse_in_process(p, argv)
    print(json.dumps(asyncio.run(measure(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
