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

from bench.shopper import FlowError, Shopper


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

    async def prepare(self, client: httpx.AsyncClient, database_url: str | None) -> None: ...

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome: ...

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]: ...


async def read_catalog(client: httpx.AsyncClient, min_available: int = 1) -> list[Sellable]:
    """Every active product (each active variant separately) the shop can sell at least
    ``min_available`` of (or tracks no stock for, or backorders), paging through the API."""
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
            break
    return [s for s in sellables if await _sellable_now(client, s, min_available)]


async def _sellable_now(client: httpx.AsyncClient, item: Sellable, min_available: int) -> bool:
    r = await client.get(f"/api/inventory/{item.product_id}")
    if r.status_code == 404:
        return True  # no inventory feature: everything sells
    r.raise_for_status()
    skus = {level["variant_id"]: level for level in r.json()["skus"]}
    level = skus.get(item.variant_id) or skus.get(None)
    if level is None:
        return True  # untracked
    return bool(level["backorder_allowed"] or level["available"] >= min_available)


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
        or (o.cart_version >= 0 and versions.get(o.cart_id) != o.cart_version)
    ]
    return {
        "carts_checked": len(outcomes),
        "cart_mismatches": len(mismatches),
        "examples": mismatches[:5],
        "ok": not mismatches,
    }


GUEST: dict[str, Any] = {"first_name": "Bench", "last_name": "Shopper", "phone": "+1 212 555 0100"}
ADDRESS = {
    "first_name": "Bench",
    "last_name": "Shopper",
    "street1": "350 Fifth Avenue",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "country": "US",
}
CARD = {"type": "card", "payment_method_id": "pm_card_visa"}
EVENTS = "/api/checkout/{id}/events"


async def send_event(
    shopper: Shopper,
    checkout_id: str,
    event: str,
    *,
    expect: tuple[int, ...] = (200,),
    **fields: Any,
) -> dict[str, Any]:
    """POST one checkout event, timed under ``POST /api/checkout/{id}/events EVENT``."""
    r = await shopper.call(
        "POST",
        EVENTS.format(id=checkout_id),
        f"POST {EVENTS} {event}",
        json={"type": event, **fields},
        expect=expect,
    )
    body: dict[str, Any] = r.json()
    return body


async def apply_coupon(shopper: Shopper, code: str) -> dict[str, Any]:
    r = await shopper.call(
        "POST", "/api/cart/coupons", "POST /api/cart/coupons", json={"code": code}
    )
    body: dict[str, Any] = r.json()
    return body


async def guest_checkout_to_review(shopper: Shopper, email: str) -> dict[str, Any]:
    """Start a checkout of the shopper's cart and walk the guest path to ``order_review``."""
    r = await shopper.call("POST", "/api/checkout", "POST /api/checkout", expect=(200, 201))
    cid = r.json()["id"]
    await send_event(shopper, cid, "SELECT_GUEST")
    await send_event(shopper, cid, "SUBMIT_GUEST_INFO", email=email, **GUEST)
    await send_event(shopper, cid, "SUBMIT_SHIPPING", address=ADDRESS)
    await send_event(shopper, cid, "USE_SHIPPING_ADDRESS")
    options = await shopper.call(
        "GET", f"/api/checkout/{cid}/shipping-options", "GET /api/checkout/{id}/shipping-options"
    )
    method = options.json()["items"][0]["id"]
    await send_event(shopper, cid, "SELECT_SHIPPING", shipping_method_id=method)
    body = await send_event(shopper, cid, "SELECT_PAYMENT", payment_method=CARD)
    if body["state"] != "order_review":
        raise AssertionError(f"checkout {cid} is in {body['state']} after SELECT_PAYMENT")
    return body


class CartFlow:
    """Browse and fill a cart (what exists before checkout and payments)."""

    name = "cart"

    def __init__(self) -> None:
        self.catalog: list[Sellable] = []

    async def prepare(self, client: httpx.AsyncClient, database_url: str | None) -> None:
        self.catalog = await read_catalog(client)
        if len(self.catalog) < 2:
            raise SystemExit("the shop needs at least 2 products: run `tillpoint demo --no-serve`")

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome:
        return await browse_and_fill_cart(shopper, rng, self.catalog)

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
        return await verify_carts(database_url, outcomes)


class CheckoutReviewFlow:
    """Fill a cart, a coupon for some shoppers, and walk the guest checkout to order review.

    What exists before payments: the checkout is left in ``order_review`` (it expires).
    """

    name = "checkout_review"
    coupon_code = "BENCH10"
    coupon_share = 0.3

    def __init__(self) -> None:
        self.catalog: list[Sellable] = []

    min_available = 1

    async def prepare(self, client: httpx.AsyncClient, database_url: str | None) -> None:
        self.catalog = await read_catalog(client, self.min_available)
        if len(self.catalog) < 2:
            raise SystemExit("the shop needs 2 products in stock: run `tillpoint bench prepare`")

    async def fill(self, shopper: Shopper, rng: random.Random) -> Outcome:
        outcome = await browse_and_fill_cart(shopper, rng, self.catalog)
        if rng.random() < self.coupon_share:
            cart = await apply_coupon(shopper, self.coupon_code)
            outcome.coupon_code = self.coupon_code
            outcome.cart_version = cart["version"]
        return outcome

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome:
        outcome = await self.fill(shopper, rng)
        email = f"bench+{outcome.cart_id[-12:].lower()}@example.com"
        review = await guest_checkout_to_review(shopper, email)
        totals = review["context"]["totals"]
        if totals["total"] != sum(x["total"] for x in totals["lines"]) + (
            totals["shipping_line"]["total"] if totals.get("shipping_line") else 0
        ):
            raise AssertionError(f"checkout {review['id']} total is not the sum of its lines")
        if outcome.coupon_code and not totals["discount"]:
            raise AssertionError(f"checkout {review['id']} lost the coupon's discount")
        outcome.extra["checkout_id"] = review["id"]
        return outcome

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
        return await verify_carts(database_url, outcomes)


# CONFIRM_ORDER refusals a shopper answers by confirming again: the new total is shown
# (a coupon that ran out has left the cart, so the retry pays full price).
RECONFIRM = frozenset({"totals_changed", "coupon_exhausted"})


async def confirm_order(shopper: Shopper, checkout_id: str) -> tuple[dict[str, Any], list[str]]:
    """CONFIRM_ORDER, confirming again after ``totals_changed`` / ``coupon_exhausted``;
    the checkout's answer and the refusal codes met on the way."""
    refusals: list[str] = []
    for _ in range(3):
        body = await send_event(shopper, checkout_id, "CONFIRM_ORDER", expect=(200, 409))
        if "error" not in body:
            return body, refusals
        code = body["error"]["code"]
        if code not in RECONFIRM:
            raise FlowError(f"POST {EVENTS} CONFIRM_ORDER", 409, code)
        refusals.append(code)
    raise FlowError(f"POST {EVENTS} CONFIRM_ORDER", 409, refusals[-1])


async def pay_and_confirm(shopper: Shopper, checkout_id: str) -> dict[str, Any]:
    """CONFIRM_ORDER (accepting re-priced totals or a used-up coupon), then pay with the
    method chosen at SELECT_PAYMENT through ``POST /api/payment/confirm``; its answer."""
    await confirm_order(shopper, checkout_id)
    r = await shopper.call(
        "POST",
        "/api/payment/confirm",
        "POST /api/payment/confirm",
        json={"checkout_id": checkout_id},
    )
    paid: dict[str, Any] = r.json()
    return paid


class CheckoutFlow(CheckoutReviewFlow):
    """The full guest purchase: cart, a coupon for some, checkout, sandbox payment, order."""

    name = "checkout"
    min_available = 1000  # a long run must not sell out (bench prepare stocks 10,000,000)

    def __init__(self) -> None:
        super().__init__()
        self.before: dict[str, Any] = {}

    async def prepare(self, client: httpx.AsyncClient, database_url: str | None) -> None:
        await super().prepare(client, database_url)
        if database_url:
            self.before = await shop_counts(database_url, self.coupon_code)

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome:
        outcome = await super().run(shopper, rng)
        cid = outcome.extra["checkout_id"]
        paid = await pay_and_confirm(shopper, cid)
        if paid["state"] != "order_confirmation" or not paid.get("order_id"):
            raise AssertionError(f"checkout {cid} ended in {paid['state']}: {paid}")
        outcome.order_id = paid["order_id"]
        return outcome

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
        report = await verify_carts_converted(database_url, outcomes)
        report.update(await verify_orders(database_url, outcomes, self.before, self.coupon_code))
        report["ok"] = report["ok"] and report["orders_ok"]
        return report


async def shop_counts(database_url: str, coupon_code: str) -> dict[str, Any]:
    """Stock per SKU, the coupon's usage and the order count, to compare after a run."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            stock: dict[str, int] = dict(
                (await conn.execute(text("SELECT sku, on_hand FROM inventory"))).all()
            )
            usage = await conn.scalar(
                text("SELECT usage_count FROM coupons WHERE code = :c"), {"c": coupon_code}
            )
            orders = await conn.scalar(text("SELECT count(*) FROM orders"))
            sold: dict[str, int] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT i.sku, coalesce(sum(l.quantity), 0) FROM inventory i"
                            " JOIN order_lines l ON l.product_id = i.product_id"
                            " AND (i.variant_id IS NULL OR l.variant_id = i.variant_id)"
                            " GROUP BY i.sku"
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    return {"stock": stock, "coupon_usage": usage or 0, "orders": orders or 0, "sold": sold}


async def verify_carts_converted(database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
    """Each purchased cart holds the lines the shopper put in it."""
    return await verify_carts(database_url, [_ignore_version(o) for o in outcomes])


def _ignore_version(o: Outcome) -> Outcome:
    # Converting the cart into an order bumps its version (a negative one is not compared).
    return Outcome(o.cart_id, o.lines, o.subtotal, cart_version=-1)


async def verify_orders(
    database_url: str, outcomes: list[Outcome], before: dict[str, Any], coupon_code: str
) -> dict[str, Any]:
    """Orders, stock and coupon usage add up exactly to what the shoppers were told."""
    after = await shop_counts(database_url, coupon_code)
    order_ids = [o.order_id for o in outcomes if o.order_id]
    engine = create_async_engine(database_url)
    bad_totals: list[str] = []
    try:
        async with engine.connect() as conn:
            rows: list[Any] = []
            for chunk in _chunks([str(i) for i in order_ids]):
                rows += (
                    await conn.execute(
                        text(
                            "SELECT o.id, o.total, o.subtotal, o.discount_total,"
                            " o.shipping_refundable, sum(l.total), sum(l.amount), sum(l.discount)"
                            " FROM orders o JOIN order_lines l ON l.order_id = o.id"
                            " WHERE o.id IN :ids GROUP BY o.id"
                        ).bindparams(bindparam("ids", expanding=True)),
                        {"ids": chunk},
                    )
                ).all()
            paid = 0
            for chunk in _chunks([str(i) for i in order_ids]):
                paid += int(
                    await conn.scalar(
                        text(
                            "SELECT count(*) FROM payments WHERE order_id IN :ids"
                            " AND status = 'succeeded'"
                        ).bindparams(bindparam("ids", expanding=True)),
                        {"ids": chunk},
                    )
                    or 0
                )
    finally:
        await engine.dispose()
    for oid, total, subtotal, discount, shipping, lines_total, amount, line_discount in rows:
        if total != lines_total + shipping or amount != subtotal or line_discount > discount:
            bad_totals.append(oid)
    new_orders = after["orders"] - before.get("orders", 0)
    sold_now = {
        sku: after["sold"].get(sku, 0) - before.get("sold", {}).get(sku, 0) for sku in after["sold"]
    }
    stock_moved = {
        sku: before.get("stock", {}).get(sku, 0) - after["stock"].get(sku, 0)
        for sku in after["stock"]
    }
    stock_mismatch = {
        sku: (sold_now.get(sku, 0), moved)
        for sku, moved in stock_moved.items()
        if moved != sold_now.get(sku, 0)
    }
    with_coupon = sum(1 for o in outcomes if o.order_id and o.coupon_code)
    usage = after["coupon_usage"] - before.get("coupon_usage", 0)
    ok = (
        len(rows) == len(order_ids) == new_orders
        and not bad_totals
        and paid == len(order_ids)
        and not stock_mismatch
        and usage == with_coupon
        and all(v >= 0 for v in after["stock"].values())
    )
    return {
        "orders_answered": len(order_ids),
        "orders_found": len(rows),
        "orders_created_during_run": new_orders,
        "orders_with_bad_totals": bad_totals[:5],
        "succeeded_payments": paid,
        "stock_mismatches": stock_mismatch,
        "coupon_orders": with_coupon,
        "coupon_usage_added": usage,
        "orders_ok": ok,
    }


class FloorFlow:
    """A purchase's requests in order against ``tillpoint bench floor`` (no shop behind it)."""

    name = "floor"
    body: dict[str, Any] = {"type": "SUBMIT_SHIPPING", "address": ADDRESS}

    async def prepare(self, client: httpx.AsyncClient, database_url: str | None) -> None:
        from bench.floor import PURCHASE

        self.steps = [method for method, _ in PURCHASE]

    async def run(self, shopper: Shopper, rng: random.Random) -> Outcome:
        for step, method in enumerate(self.steps):
            body = self.body if method == "POST" else None
            await shopper.call(method, f"/floor/{step}", f"{method} /floor/{step}", json=body)
        return Outcome(cart_id="", lines={}, subtotal=0, cart_version=-1)

    async def verify(self, database_url: str, outcomes: list[Outcome]) -> dict[str, Any]:
        return {"ok": True, "note": "the floor shop keeps no orders: nothing to verify"}


FLOWS: dict[str, type[Flow]] = {
    "cart": CartFlow,
    "floor": FloorFlow,
    "checkout_review": CheckoutReviewFlow,
    "checkout": CheckoutFlow,
}
