"""Model-based test of the shop over HTTP (hypothesis stateful testing), on both backends.

Random sequences of shoppers adding, changing and removing lines, clearing
carts, writing concurrently and writing with stale versions, applying and
removing coupons, while an admin restocks a scarce product, against a plain
Python model of what every cart must hold. After every step the invariants hold:
the cart answered equals the model; every line total is quantity x unit price;
the subtotal is the exact sum of the lines and the total is subtotal - discount;
the discount is the sum of the applied coupons, never more than the subtotal, and
what each coupon promises (10 %: within a cent per line; 5.00 off: exactly);
a coupon disappears only when removed or with a notice saying why; adding more of
the scarce product than is on hand is refused ``out_of_stock``; versions only go up
(exactly one per stored write); a refused write changes nothing. Reads go through
the real Redis cart cache, so a stale cache would break the model.

Budget: ``TILLPOINT_MODEL_STEPS`` steps per backend (default 300 for CI; the
larger run uses 100000). Each run prints how many steps it executed.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests import factories
from tests.conftest import make_client
from tests.support import Api, error_code
from tillpoint.bootstrap import build_runtime
from tillpoint.config import Settings, load_settings
from tillpoint.runtime import Runtime
from tillpoint.web.app import create_app

TOTAL_STEPS = int(os.environ.get("TILLPOINT_MODEL_STEPS", "300"))
STEPS_PER_EXAMPLE = 30
MAX_QTY = 999

Key = tuple[str, str | None]


@dataclass
class World:
    """What every example shares: one event loop, one app, a small catalog."""

    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    app: Any
    products: list[tuple[str, str | None, int]]  # product id, variant id, unit price
    scarce: str  # a product with little stock, restocked by the model
    percent_code: str  # 10 % off
    fixed_code: str  # 5.00 off
    on_hand: int = 6
    steps: int = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def together(self, *coros: Any) -> list[Any]:
        """Run coroutines concurrently on this world's loop (gather must be made inside it)."""

        async def gather() -> list[Any]:
            return list(await asyncio.gather(*coros))

        return list(self.run(gather()))


@dataclass
class Shopper:
    """One guest: its HTTP caller and what its cart must hold."""

    api: Api
    lines: dict[str, tuple[Key, int]] = field(default_factory=dict)  # line id → key, qty
    version: int = 1
    coupons: set[str] = field(default_factory=set)  # codes the server says are applied

    def line_for(self, key: Key) -> str | None:
        return next((lid for lid, (k, _q) in self.lines.items() if k == key), None)


def expected_discount(world: World, codes: set[str], subtotal: int) -> int:
    """Percentage first, then the fixed amount on what is left (the configured priority)."""
    off = subtotal * 1000 // 10_000 if world.percent_code in codes else 0
    if world.fixed_code in codes:
        off += min(500, subtotal - off)
    return off


def check_cart_body(
    body: dict[str, Any], shopper: Shopper, prices: dict[Key, int], world: World | None = None
) -> None:
    """The answered cart equals the model, and its money adds up exactly."""
    assert body["version"] == shopper.version, (body["version"], shopper.version)
    seen = {i["id"]: ((i["product_id"], i["variant_id"]), i["quantity"]) for i in body["items"]}
    assert seen == shopper.lines, (seen, shopper.lines)
    for item in body["items"]:
        key = (item["product_id"], item["variant_id"])
        assert item["unit_price"] == prices[key]
        assert item["line_total"] == item["quantity"] * item["unit_price"]
    totals = body["totals"]
    assert totals["subtotal"] == sum(i["line_total"] for i in body["items"])
    assert 0 <= totals["discount"] <= totals["subtotal"]
    assert totals["total"] == totals["subtotal"] - totals["discount"]
    assert totals["item_count"] == sum(i["quantity"] for i in body["items"])
    assert totals["discount"] == sum(c["discount_amount"] for c in body["coupons"])
    codes = {c["code"] for c in body["coupons"]}
    assert codes == shopper.coupons, (codes, shopper.coupons)
    if world is not None:
        expected = expected_discount(world, codes, totals["subtotal"])
        # Percentages are rounded per line (half-up): at most one minor unit per line off.
        assert abs(totals["discount"] - expected) <= len(body["items"]), (totals, codes)


QUANTITY = st.one_of(st.integers(1, 5), st.sampled_from([0, -1, MAX_QTY, MAX_QTY + 1]))


class ShopModel(RuleBasedStateMachine):
    world: World  # set by the test before hypothesis builds instances

    shoppers = Bundle("shoppers")

    def __init__(self) -> None:
        super().__init__()
        self.all: list[Shopper] = []
        self.clients: list[httpx.AsyncClient] = []
        self.prices: dict[Key, int] = {(p, v): price for p, v, price in self.world.products}
        self.touched: Shopper | None = None
        # Each example starts from the same stock, so replaying one (shrinking) sees the
        # same answers: the model may depend on nothing a previous example left behind.
        self._set_stock(6)

    # --- helpers ------------------------------------------------------------------------

    def _new_shopper(self) -> Shopper:
        client = make_client(self.world.app)
        self.clients.append(client)
        api = Api(client)
        self.world.run(api.start())
        shopper = Shopper(api)
        self.all.append(shopper)
        return shopper

    def _stored(
        self, shopper: Shopper, body: dict[str, Any], *, removed: str | None = None
    ) -> None:
        """A write was stored: exactly one version step, and the answer equals the model.

        A coupon may leave only when removed on purpose or with a ``coupon_removed``
        notice (the cart no longer meets it).
        """
        shopper.version += 1
        now = {c["code"] for c in body["coupons"]}
        noticed = {n.get("coupon_code") for n in body["notices"] if n["code"] == "coupon_removed"}
        gone = shopper.coupons - now - ({removed} if removed else set())
        assert gone <= noticed, (gone, body["notices"])
        shopper.coupons = now
        check_cart_body(body, shopper, self.prices, self.world)
        self.touched = shopper

    def _add_to_model(self, shopper: Shopper, key: Key, qty: int, body: dict[str, Any]) -> None:
        line = shopper.line_for(key)
        if line is None:  # a new line: the answer names its id (one line per key here)
            line = next(i["id"] for i in body["items"] if (i["product_id"], i["variant_id"]) == key)
            shopper.lines[line] = (key, qty)
        else:
            shopper.lines[line] = (key, shopper.lines[line][1] + qty)

    def _draw_line(self, shopper: Shopper, data: st.DataObject) -> str:
        # By position, not by id: ids are random, positions replay identically when shrinking.
        return list(shopper.lines)[data.draw(st.integers(0, len(shopper.lines) - 1))]

    def _quantity(self, shopper: Shopper, key: Key) -> int:
        line = shopper.line_for(key)
        return shopper.lines[line][1] if line else 0

    def _limit(self, key: Key) -> int:
        return self.world.on_hand if key[0] == self.world.scarce else MAX_QTY

    def _add_body(self, key: Key, qty: int) -> dict[str, Any]:
        body: dict[str, Any] = {"product_id": key[0], "quantity": qty}
        if key[1]:
            body["variant_id"] = key[1]
        return body

    # --- rules --------------------------------------------------------------------------

    @initialize(target=shoppers)
    def first_shopper(self) -> Shopper:
        return self._new_shopper()

    @rule(target=shoppers)
    def another_shopper(self) -> Shopper:
        return self._new_shopper()

    @rule(shopper=shoppers, pick=st.integers(0, 10), qty=QUANTITY)
    def add(self, shopper: Shopper, pick: int, qty: int) -> None:
        key = list(self.prices)[pick % len(self.prices)]
        after = qty + self._quantity(shopper, key)
        r = self.world.run(shopper.api.post("/api/cart/items", json=self._add_body(key, qty)))
        if 1 <= qty <= MAX_QTY and key[0] == self.world.scarce and after > self.world.on_hand:
            assert r.status_code == 409 and error_code(r) == "out_of_stock", r.text
            self.touched = shopper
        elif qty >= 1 and after <= MAX_QTY:
            assert r.status_code == 200, r.text
            self._add_to_model(shopper, key, qty, r.json())
            self._stored(shopper, r.json())
        else:
            assert r.status_code == 422 and error_code(r) == "quantity_out_of_range", r.text
            self.touched = shopper

    @rule(shopper=shoppers, data=st.data(), qty=QUANTITY)
    def set_quantity(self, shopper: Shopper, data: st.DataObject, qty: int) -> None:
        if not shopper.lines:
            r = self.world.run(
                shopper.api.patch(f"/api/cart/items/item_{'Z' * 22}", json={"quantity": 1})
            )
            assert r.status_code == 404 and error_code(r) == "item_not_found", r.text
            return
        line = self._draw_line(shopper, data)
        key, had = shopper.lines[line]
        r = self.world.run(shopper.api.patch(f"/api/cart/items/{line}", json={"quantity": qty}))
        if key[0] == self.world.scarce and had < qty <= MAX_QTY and qty > self.world.on_hand:
            assert r.status_code == 409 and error_code(r) == "out_of_stock", r.text
        elif qty < 0:
            assert r.status_code == 422, r.text
        elif qty > MAX_QTY:
            assert r.status_code == 422 and error_code(r) == "quantity_out_of_range", r.text
        else:
            assert r.status_code == 200, r.text
            if qty == 0:
                del shopper.lines[line]
            else:
                shopper.lines[line] = (key, qty)
            self._stored(shopper, r.json())
        self.touched = shopper

    @rule(shopper=shoppers, data=st.data())
    def remove(self, shopper: Shopper, data: st.DataObject) -> None:
        if not shopper.lines:
            return
        line = self._draw_line(shopper, data)
        r = self.world.run(shopper.api.delete(f"/api/cart/items/{line}"))
        assert r.status_code == 200, r.text
        del shopper.lines[line]
        self._stored(shopper, r.json())

    @rule(shopper=shoppers)
    def clear(self, shopper: Shopper) -> None:
        r = self.world.run(shopper.api.delete("/api/cart"))
        assert r.status_code == 200, r.text
        shopper.lines.clear()
        assert r.json()["coupons"] == []
        shopper.coupons.clear()
        self._stored(shopper, r.json())

    @rule(shopper=shoppers, picks=st.lists(st.integers(0, 10), min_size=2, max_size=4))
    def concurrent_adds(self, shopper: Shopper, picks: list[int]) -> None:
        """Several tabs of one shopper add at once: every add lands, one version each."""
        keys = [list(self.prices)[p % len(self.prices)] for p in picks]
        if any(self._quantity(shopper, k) + keys.count(k) > self._limit(k) for k in keys):
            return
        answers = self.world.together(
            *(shopper.api.post("/api/cart/items", json=self._add_body(k, 1)) for k in keys)
        )
        assert [a.status_code for a in answers] == [200] * len(keys), [a.text for a in answers]
        versions = sorted(a.json()["version"] for a in answers)
        assert versions == list(range(shopper.version + 1, shopper.version + 1 + len(keys)))
        last = max(answers, key=lambda a: a.json()["version"]).json()
        for key in keys:
            self._add_to_model(shopper, key, 1, last)
        shopper.version += len(keys) - 1
        self._stored(shopper, last)

    @rule(shopper=shoppers, pick=st.integers(0, 10))
    def stale_write(self, shopper: Shopper, pick: int) -> None:
        """A write naming an old version is refused with the current cart, and changes nothing."""
        if shopper.version < 2:
            return
        key = list(self.prices)[pick % len(self.prices)]
        r = self.world.run(
            shopper.api.post(
                "/api/cart/items",
                json=self._add_body(key, 1),
                headers={"If-Match": f'"{shopper.version - 1}"'},
            )
        )
        assert r.status_code == 412 and error_code(r) == "version_mismatch", r.text
        check_cart_body(r.json()["error"]["details"]["current"], shopper, self.prices, self.world)
        self.touched = shopper

    @rule(first=shoppers, second=shoppers, pick=st.integers(0, 10))
    def two_shoppers_at_once(self, first: Shopper, second: Shopper, pick: int) -> None:
        """Different carts never see each other's writes."""
        if first is second:
            return
        key = list(self.prices)[pick % len(self.prices)]
        if max(self._quantity(first, key), self._quantity(second, key)) >= self._limit(key):
            return
        a, b = self.world.together(
            first.api.post("/api/cart/items", json=self._add_body(key, 1)),
            second.api.post("/api/cart/items", json=self._add_body(key, 1)),
        )
        for s, r in ((first, a), (second, b)):
            assert r.status_code == 200, r.text
            self._add_to_model(s, key, 1, r.json())
            self._stored(s, r.json())

    @rule(shopper=shoppers, percent=st.booleans())
    def apply_coupon(self, shopper: Shopper, percent: bool) -> None:
        code = self.world.percent_code if percent else self.world.fixed_code
        r = self.world.run(shopper.api.post("/api/cart/coupons", json={"code": code.lower()}))
        if code in shopper.coupons:
            assert r.status_code == 409 and error_code(r) == "coupon_already_applied", r.text
        elif not shopper.lines:
            assert r.status_code == 422 and error_code(r).startswith("coupon_"), r.text
        else:
            assert r.status_code == 200, r.text
            assert code in {c["code"] for c in r.json()["coupons"]}
            self._stored(shopper, r.json())
            return
        self.touched = shopper

    @rule(shopper=shoppers, data=st.data())
    def remove_coupon(self, shopper: Shopper, data: st.DataObject) -> None:
        r = self.world.run(shopper.api.get("/api/cart"))
        applied = {c["code"]: c["coupon_id"] for c in r.json()["coupons"]}
        if not applied:
            return
        code = data.draw(st.sampled_from(sorted(applied)))
        r = self.world.run(shopper.api.delete(f"/api/cart/coupons/{applied[code]}"))
        assert r.status_code == 200, r.text
        assert code not in {c["code"] for c in r.json()["coupons"]}
        self._stored(shopper, r.json(), removed=code)

    def _set_stock(self, on_hand: int) -> None:
        from tillpoint.inventory.levels import adjust_stock

        self.world.run(
            adjust_stock(self.world.runtime, self.world.scarce, on_hand=on_hand, reason="model")
        )
        self.world.on_hand = on_hand

    @rule(on_hand=st.integers(0, 8))
    def restock(self, on_hand: int) -> None:
        """The admin sets the scarce product's stock; carts keep their lines, later adds obey it."""
        self._set_stock(on_hand)

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def last_touched_cart_reads_back_as_the_model(self) -> None:
        self.world.steps += 1
        if self.touched is None:
            return
        r = self.world.run(self.touched.api.get("/api/cart"))
        assert r.status_code == 200, r.text
        check_cart_body(r.json(), self.touched, self.prices, self.world)

    def teardown(self) -> None:
        for shopper in self.all:
            r = self.world.run(shopper.api.get("/api/cart"))
            check_cart_body(r.json(), shopper, self.prices, self.world)
        for client in self.clients:
            self.world.run(client.aclose())


def _fix_world(test_settings: Settings) -> World:
    loop = asyncio.new_event_loop()
    runtime = build_runtime(test_settings)
    app = create_app(runtime=runtime)

    async def shop() -> World:
        from tillpoint.ids import new_id
        from tillpoint.inventory.levels import adjust_stock

        plain = [await factories.product(runtime, price=p) for p in (1250, 1800, 99, 100_000)]
        varied = await factories.product(runtime, price=2500, variants=[{"price": 2700}, {}])
        scarce = await factories.product(runtime, price=700)
        await adjust_stock(runtime, scarce.id, on_hand=6, reason="model")
        rows: list[tuple[str, str | None, int]] = [(p.id, None, p.price) for p in plain]
        rows += [(varied.id, varied.variants[0].id, 2700), (varied.id, varied.variants[1].id, 2500)]
        rows.append((scarce.id, None, 700))
        tag = new_id("c")[-8:].upper()
        percent = await factories.coupon(
            runtime, f"PCT{tag}", type="percentage", value=1000, combinable=True
        )
        fixed = await factories.coupon(
            runtime, f"FIX{tag}", type="fixed_amount", value=500, currency="USD", combinable=True
        )
        return World(
            loop=loop,
            runtime=runtime,
            app=app,
            products=rows,
            scarce=scarce.id,
            percent_code=percent.code,
            fixed_code=fixed.code,
        )

    return loop.run_until_complete(shop())


def test_carts_follow_the_model_under_random_operations(database_url: str, redis_url: str) -> None:
    test_settings = load_settings(
        mode="test",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        background_tasks=False,
        log_level="WARNING",
        # Every model shopper calls from the same test client: per-IP limits would end the
        # run after a thousand requests (the limiter still runs, through Redis).
        rate_limit_global="100000000/minute",
        rate_limit_checkout="100000000/minute",
        rate_limit_per_address="100000000/minute",
    )
    world = _fix_world(test_settings)
    ShopModel.world = world
    try:
        run_state_machine_as_test(
            ShopModel,
            settings=settings(
                max_examples=max(TOTAL_STEPS // STEPS_PER_EXAMPLE, 1),
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            ),
        )
    finally:
        world.run(world.runtime.close())
        world.loop.close()
    print(f"\nshop model: {world.steps} steps with every invariant holding")
    assert world.steps > 0
