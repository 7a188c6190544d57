"""What a simulated shopper does, one flow per visit, and how the database must add up after.

A flow is pluggable: ``prepare`` once (read the catalog), ``run`` once per visit
(returns an :class:`Outcome` describing what the shopper believes happened), and
``verify`` at the end against the database the server wrote to. ``FLOWS`` names them.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.shopper import Shopper


@dataclass
class Outcome:
    """What one completed visit did, as the shopper saw it."""

    cart_id: str
    lines: dict[tuple[str, str | None], int]
    subtotal: int
    cart_version: int
    order_id: str | None = None
    order_total: int | None = None
    coupon_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sellable:
    product_id: str
    variant_id: str | None
    price: int


class Flow(Protocol):
    name: str

    async def prepare(self, client: httpx.AsyncClient) -> None: ...

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome: ...

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]: ...


async def read_catalog(client: httpx.AsyncClient) -> list[Sellable]:
    """Every active product (each active variant separately), paging through the API."""
    sellables: list[Sellable] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/products", params=params)
        r.raise_for_status()
        page = r.json()
        for p in page["items"]:
            variants = [v for v in p["variants"] if v["active"]]
            if variants:
                sellables += [Sellable(p["id"], v["id"], v["price"]) for v in variants]
            else:
                sellables.append(Sellable(p["id"], None, p["price"]))
        cursor = page.get("next_cursor")
        if not cursor:
            return sellables


async def browse_and_fill_cart(
    shopper: Shopper, rng: random.Random, catalog: list[Sellable]
) -> Outcome:
    """Session → product list → one product page → add 2-3 items → read the cart back."""
    session = await shopper.new_visit()
    await shopper.call("GET", "/api/products", "GET /api/products")
    picks = rng.sample(catalog, k=min(rng.randint(2, 3), len(catalog)))
    await shopper.call(
        "GET", f"/api/products/{picks[0].product_id}", "GET /api/products/{product_id}"
    )
    lines: Counter[tuple[str, str | None]] = Counter()
    for pick in picks:
        qty = rng.randint(1, 2)
        body: dict[str, Any] = {"product_id": pick.product_id, "quantity": qty}
        if pick.variant_id:
            body["variant_id"] = pick.variant_id
        await shopper.call("POST", "/api/cart/items", "POST /api/cart/items", json=body)
        lines[(pick.product_id, pick.variant_id)] += qty
    cart = (await shopper.call("GET", "/api/cart", "GET /api/cart")).json()
    seen = {(i["product_id"], i["variant_id"]): i["quantity"] for i in cart["items"]}
    if seen != dict(lines):
        raise AssertionError(f"cart {cart['id']} answered {seen}, expected {dict(lines)}")
    if cart["totals"]["subtotal"] != sum(i["line_total"] for i in cart["items"]):
        raise AssertionError(f"cart {cart['id']} subtotal is not the sum of its lines")
    return Outcome(
        cart_id=session["cart_id"],
        lines=dict(lines),
        subtotal=cart["totals"]["subtotal"],
        cart_version=cart["version"],
    )


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def verify_carts(database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
    """Each shopper's cart holds exactly the lines, quantities and version it was answered."""
    engine = create_async_engine(database_url)
    stored_lines: dict[str, dict[tuple[str, str | None], int]] = defaultdict(dict)
    stored_subtotal: Counter[str] = Counter()
    versions: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            for chunk in _chunks([o.cart_id for o in outcomes]):
                rows = await conn.execute(
                    text(
                        "SELECT cart_id, product_id, variant_id, quantity, price"
                        " FROM cart_items WHERE cart_id IN :ids"
                    ).bindparams(bindparam("ids", expanding=True)),
                    {"ids": chunk},
                )
                for cart_id, product_id, variant_id, quantity, price in rows:
                    stored_lines[cart_id][(product_id, variant_id)] = quantity
                    stored_subtotal[cart_id] += quantity * price
                rows = await conn.execute(
                    text("SELECT id, version FROM carts WHERE id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": chunk},
                )
                versions.update({cart_id: version for cart_id, version in rows})
    finally:
        await engine.dispose()
    mismatches = [
        o.cart_id
        for o in outcomes
        if stored_lines.get(o.cart_id, {}) != o.lines
        or stored_subtotal[o.cart_id] != o.subtotal
        or versions.get(o.cart_id) != o.cart_version
    ]
    return {
        "carts_checked": len(outcomes),
        "cart_mismatches": len(mismatches),
        "examples": mismatches[:5],
        "ok": not mismatches,
    }


class CartFlow:
    """Browse and fill a cart (what exists before checkout and payments)."""

    name = "cart"

    def __init__(self) -> None:
        self.catalog: list[Sellable] = []

    async def prepare(self, client: httpx.AsyncClient) -> None:
        self.catalog = await read_catalog(client)
        if len(self.catalog) < 2:
            raise SystemExit("the shop needs at least 2 products: run `tillpoint demo --no-serve`")

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome:
        return await browse_and_fill_cart(shopper, rng, self.catalog)

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
        return await verify_carts(database_url, outcomes)


FLOWS: dict[str, type[Flow]] = {"cart": CartFlow}
