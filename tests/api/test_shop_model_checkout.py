"""Model-based test of the whole shop over HTTP (hypothesis stateful testing), both backends.

Random sequences of guest and registered shoppers filling carts, applying and removing
coupons, walking the checkout to review, confirming, paying with the sandbox's test
cards (success, decline, 3-D Secure passed and failed), paying in "Stripe.js" and never
coming back, retrying after a decline; the gateway's webhooks held back and delivered
late, twice, out of order or replayed under a new event id; an admin refunding (full,
partial, one unit of a line, with and without restock) and restocking; the clock moving
past reservation and checkout lifetimes with the sweepers run. The real app answers over
httpx's ASGI transport; webhooks go through the signed intake; the sweepers are the real jobs.

After every step these invariants are read back from the database (and the sandbox
gateway's ledger) for everything the example created:

- no answer was a 5xx, and no sweeper job failed;
- every order's money adds up exactly: line amount = unit price x quantity, line total =
  amount - discount + tax, subtotal = sum of amounts, total = sum of line totals + the
  shipping line = subtotal - discount + shipping + tax; the gateway captured exactly the
  order's total;
- discounts never exceed what they apply to (per line, per order, shipping; 5.00 off
  is at most 5.00, 10 % at most a tenth of the subtotal plus a cent per line);
- per tracked SKU: on hand = initial + restocks - sold + restocked by refunds, on hand
  >= 0, 0 <= reserved <= on hand, reserved = the units of active reservations;
- each coupon's usage count = the orders that used it (= its live redemptions) + its live
  holds (CONFIRM_ORDER until the order exists or the hold is released), never over
  its limit; per customer the same, never over the per-customer limit;
- refunded <= captured: per order (sum of refunds = refunded total <= total, per line),
  and at the gateway (what it gave back = what the order records);
- one order per paid checkout: at most one order per checkout and per intent; every
  order's intent succeeded; every succeeded intent has its order, was refunded in full
  (paid but stock or coupon ran out), or is still being finalized — and after ``settle``
  (every webhook delivered, the sweeper past its grace) none is left being finalized;
  a checkout is at ``order_confirmation`` exactly when it has an order;
- an order has exactly the lines of the cart it converted (nothing vanished with it);
- a cart write is refused ``cart_locked`` (naming the checkout) exactly while a checkout
  is paying for the session's cart (payment in flight, or paid and the order being
  made), and never ``cart_not_active``: a session always holds an active cart. When a
  shopper's checkout becomes an order, the shopper's session holds a new empty cart.

Budget: ``TILLPOINT_MODEL_STEPS`` steps per backend (default 200 for CI; examples are
repeated until that many steps ran); ``TILLPOINT_MODEL_SECONDS`` caps the wall clock of a
long run (it stops between batches of ten examples). Each run prints its progress and a
summary (steps, examples, seconds, what it reached); with ``TILLPOINT_MODEL_REPORT=<path>``
the summary is appended to that file as a JSON line. ``TILLPOINT_MODEL_TRACE=1`` also
prints every kind of request with its answer and how often it was made.

Seeds: each batch of examples runs from its own seed, derived from a base seed, the
backend and the batch's number, so the two backends explore different sequences and two
processes never repeat each other's. The base seed is random unless
``TILLPOINT_MODEL_SEED`` gives one; the summary prints it, so a failing run replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis
from sqlalchemy import select

from tests import factories
from tests.conftest import REDIS_URL, _unavailable, make_client
from tests.inventory_support import level
from tests.payment_support import signed
from tests.support import Api, MovableClock
from tillpoint.bootstrap import build_runtime
from tillpoint.cart.models import CartItem
from tillpoint.checkout.models import Checkout
from tillpoint.config import Settings, load_settings
from tillpoint.ids import new_id
from tillpoint.inventory.models import InventoryItem, InventoryReservation
from tillpoint.orders.models import Order
from tillpoint.payments.gateway import IntentStatus
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.promotions.fetch import customer_keys
from tillpoint.promotions.models import (
    Coupon,
    CouponCustomerUsage,
    CouponHold,
    CouponRedemption,
)
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep
from tillpoint.web.app import create_app

TOTAL_STEPS = int(os.environ.get("TILLPOINT_MODEL_STEPS", "200"))
# A wall-clock cap for the large run (0: none): it stops between batches of examples.
MAX_SECONDS = float(os.environ.get("TILLPOINT_MODEL_SECONDS", "0"))
EXAMPLES_PER_BATCH = 10
STEPS_PER_EXAMPLE = 40
TRACE = os.environ.get("TILLPOINT_MODEL_TRACE") == "1"
BASE_SEED = int(os.environ.get("TILLPOINT_MODEL_SEED") or secrets.randbits(32))
SECRET = "whsec_shop_model"
PASSWORD = "correct-horse-model-42"
ADMIN = "model-admin@shop.example.com"
GUEST_EMAILS = ("ada@example.com", "grace@example.com")  # shared: per-customer limits bite
CARDS = {
    "ok": "pm_card_visa",
    "decline": "pm_card_chargeDeclined",
    "3ds": "pm_card_threeDSecure2Required",
}
NY = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street1": "350 Fifth Avenue",
    "city": "New York",
    "state": "NY",
    "zip_code": "10118",
    "country": "US",
}
PAYING = {"payment_processing", "payment_requires_action", "payment_success"}
# The clock may move at most this far in one example: registered access tokens live a day.
MAX_ELAPSED = timedelta(hours=20)
# Actions by weight (repeated names): mostly the purchase funnel, sometimes time and staff.
# One weighted rule rather than one rule each: hypothesis's swarm testing would otherwise
# switch off whole rules per example and most examples would never reach an order.
ACTIONS = (
    ["add_item"] * 4 + ["change_quantity", "remove_item", "another_shopper", "remove_coupon"]
    + ["apply_coupon"] * 2 + ["checkout_to_review"] * 4 + ["confirm_order"] * 4
    + ["pay_in_browser"] * 4 + ["authenticate_3ds"] * 2 + ["pay_and_vanish", "retry_payment"]
    + ["deliver_webhook"] * 3 + ["redeliver_webhook"] + ["refund"] * 2
    + ["restock", "time_passes", "settle"]
)  # fmt: skip


def _line_refusal(line: Any, restock: bool) -> bool:
    """A one-unit refund of ``line`` is refused: all its units refunded (or, to restock,
    restocked), or its share of money for that unit is nothing."""
    if line.refunded_quantity >= line.quantity:
        return True
    if restock and line.restocked_quantity >= line.quantity:
        return True
    share = (line.total * (line.refunded_quantity + 1) // line.quantity) - (
        line.total * line.refunded_quantity // line.quantity
    )
    return min(share, line.total - line.refunded_amount) <= 0


@dataclass
class World:
    """What every example shares: one event loop, one app, its sandbox gateway."""

    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    app: Any
    gateway: SandboxGateway
    clock: MovableClock
    backend: str
    steps: int = 0
    examples: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # with TILLPOINT_MODEL_TRACE=1
    timing: Counter[str] = field(default_factory=Counter)  # seconds spent per kind of work

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@dataclass
class Shopper:
    api: Api
    email: str
    registered: bool
    checkout: str | None = None
    state: str | None = None  # the checkout's state, read back after every step
    items: int = 0  # lines in the cart as last answered (-1: unknown, e.g. after an order)


@dataclass
class Sku:
    product_id: str
    variant_id: str | None
    tracked: bool


@dataclass
class Ledger:
    """What the model knows happened to stock from outside orders: initial + restocks."""

    expected_base: dict[str, int] = field(default_factory=dict)  # inventory id -> units


class ServerError(AssertionError):
    pass


class ShopCheckoutModel(RuleBasedStateMachine):
    world: World  # set by the test before hypothesis builds instances

    def __init__(self) -> None:
        super().__init__()
        self.w = self.world
        self.w.examples += 1
        self.clients: list[httpx.AsyncClient] = []
        self.shoppers: list[Shopper] = []
        self.skus: list[Sku] = []
        self.inventory: dict[tuple[str, str | None], str] = {}  # sku key -> inventory id
        self.base: dict[str, int] = {}  # inventory id -> initial + admin restocks
        self.coupons: dict[str, dict[str, Any]] = {}  # code -> {id, type, limits}
        self.checkouts: set[str] = set()
        self.pending: list[dict[str, Any]] = []  # gateway events not delivered yet
        self.delivered: list[dict[str, Any]] = []
        self.seen_events = len(self.w.gateway.events)  # earlier examples' events: ignored
        self.started = self.w.clock.now()
        self.order_count = 0
        self.users = [f"u{i}-{new_id('u')[-10:].lower()}@shop.example.com" for i in range(2)]
        self.hook = make_client(self.w.app)  # the gateway's webhook sender (no cookies)
        self.clients.append(self.hook)
        self.admin = self._caller()
        self._ok(self.w.run(self.admin.login(ADMIN, PASSWORD)))

    # --- plumbing ---------------------------------------------------------------------

    def _caller(self) -> Api:
        client = make_client(self.w.app)
        self.clients.append(client)
        api = Api(client)
        self.w.run(api.start())
        return api

    def _ok(self, r: httpx.Response) -> httpx.Response:
        """Any answer but a 5xx (the shop never answers user input with a server error)."""
        if r.status_code >= 500:
            raise ServerError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}")
        return r

    def _call(self, api: Api, method: str, url: str, **kw: Any) -> httpx.Response:
        r = self._ok(self.w.run(api.request(method, url, **kw)))
        if TRACE:
            what = kw.get("json", {}).get("type", "") if isinstance(kw.get("json"), dict) else ""
            path = re.sub(r"[a-z]+_[A-Za-z0-9]{16,}", "{id}", url)
            code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
            self.w.calls[f"{method} {path} {what} {r.status_code} {code}"] += 1
        return r

    def _cart(self, shopper: Shopper, method: str, url: str, **kw: Any) -> httpx.Response:
        """A cart call; its answer tells the model whether the cart holds anything. A write
        is refused ``cart_locked`` exactly while a checkout is paying for the cart."""
        r = self._call(shopper.api, method, url, **kw)
        code = r.json()["error"]["code"] if r.status_code >= 400 else None
        assert code != "cart_not_active", r.text  # the session always has an active cart
        if r.status_code == 200 and "items" in r.json():
            shopper.items = len(r.json()["items"])
        if method == "GET":
            return r
        if r.status_code == 200:
            paying = self.w.run(self._paying_for(r.json()["id"]))
            assert paying == [], ("a cart changed while a checkout was paying for it", paying)
        elif code == "cart_locked":
            cart_id = self._call(shopper.api, "GET", "/api/cart").json()["id"]
            paying = self.w.run(self._paying_for(cart_id))
            assert r.json()["error"]["details"]["checkout_id"] in paying, (r.text, paying)
        return r

    async def _paying_for(self, cart_id: str) -> list[str]:
        """The checkouts paying for ``cart_id`` now, as the database has them."""
        async with self.w.runtime.db.transaction() as s:
            q = select(Checkout.id).where(Checkout.cart_id == cart_id, Checkout.state.in_(PAYING))
            return list(await s.scalars(q))

    def _eligible(self, data: st.DataObject, *states: str | None) -> Shopper | None:
        """A shopper whose checkout is in one of ``states`` (steers the model down the
        funnel: hypothesis only picks rules whose precondition holds)."""
        found = [s for s in self.shoppers if s.state in states]
        return self._pick(found, data) if found else None

    def _event(self, shopper: Shopper, type_: str, **fields: Any) -> httpx.Response:
        assert shopper.checkout
        return self._call(
            shopper.api, "POST", f"/api/checkout/{shopper.checkout}/events",
            json={"type": type_, **fields},
        )  # fmt: skip

    def _state(self, shopper: Shopper) -> dict[str, Any] | None:
        if not shopper.checkout:
            return None
        r = self._call(shopper.api, "GET", f"/api/checkout/{shopper.checkout}")
        return dict(r.json()) if r.status_code == 200 else None

    def _collect_events(self) -> None:
        """Hold back the gateway's new events: the model decides when (and if) they arrive."""
        events = self.w.gateway.events
        self.pending.extend(itertools.islice(events, self.seen_events, None))
        self.seen_events = len(events)

    def _deliver(self, event: dict[str, Any]) -> None:
        body, headers = signed(event, SECRET)  # signed at delivery time, as a retry would be
        r = self.w.run(self.hook.post("/api/webhooks/stripe", content=body, headers=headers))
        self._ok(r)
        assert r.status_code == 200, r.text
        self._collect_events()  # delivering may refund (orphans), which emits more

    def _sweep(self) -> None:
        results = self.w.run(run_sweep(self.w.runtime))
        assert all(v >= 0 for v in results.values()), results
        self._collect_events()

    def _pick(self, items: list[Any], data: st.DataObject) -> Any:
        # By position: ids are random, positions replay identically while shrinking.
        return items[data.draw(st.integers(0, len(items) - 1))]

    # --- the example's shop -----------------------------------------------------------

    @initialize()
    def open_shop(self) -> None:
        """Fresh products, stock and coupons for this example, so its invariants are its own."""
        rt = self.w.runtime

        async def build() -> None:
            from tillpoint.auth.service import create_user
            from tillpoint.inventory.levels import adjust_stock
            from tillpoint.promotions.admin import CouponDraft, create_coupon

            scarce = await factories.product(rt, price=1250, weight_grams=300)
            varied = await factories.product(
                rt, price=2500, weight_grams=500, variants=[{"price": 2700}, {}]
            )
            cheap = await factories.product(rt, price=99, weight_grams=50)  # untracked
            for pid, vid, units in (
                (scarce.id, None, 5),
                (varied.id, varied.variants[0].id, 3),
                (varied.id, varied.variants[1].id, 8),
            ):
                await adjust_stock(rt, pid, variant_id=vid, on_hand=units, reason="model")
                row = await level(rt, pid, vid)
                self.inventory[(pid, vid)] = row.id
                self.base[row.id] = units
                self.skus.append(Sku(pid, vid, True))
            self.skus.append(Sku(cheap.id, None, False))
            # Fresh accounts too: a user's cart outlives the session (it would carry an
            # earlier example's products and coupons into this one).
            for email in self.users:
                await create_user(rt, email=email, password=PASSWORD)
            now = self.w.clock.now()
            tag = new_id("c")[-8:].upper()
            specs = (
                ("PCT", "percentage", 1000, None, None),
                ("FIX", "fixed_amount", 500, 2, None),  # 5.00 off, two uses in all
                ("ONE", "percentage", 2000, None, 1),  # 20 % off, once per customer
            )
            for prefix, type_, value, limit, per_customer in specs:
                c = await create_coupon(
                    rt,
                    CouponDraft(
                        code=f"{prefix}{tag}", type=type_, value=value,
                        currency="USD" if type_ == "fixed_amount" else None,
                        start_date=now - timedelta(hours=1), end_date=now + timedelta(days=30),
                        usage_limit=limit, per_customer_limit=per_customer, combinable=True,
                    ),
                )  # fmt: skip
                self.coupons[c.code] = {"id": c.id, "type": type_, "value": value,
                                        "limit": limit, "per_customer": per_customer}  # fmt: skip

        self.w.run(build())
        for i in range(2):
            self._new_shopper(registered=False, email=GUEST_EMAILS[i])
        self._new_shopper(registered=True, email=self.users[0])

    def _new_shopper(self, *, registered: bool, email: str) -> Shopper:
        api = self._caller()
        if registered:
            self._ok(self.w.run(api.login(email, PASSWORD)))
        shopper = Shopper(api, email, registered)
        self.shoppers.append(shopper)
        return shopper

    def another_shopper(self, data: st.DataObject) -> None:
        registered, which = data.draw(st.booleans()), data.draw(st.integers(0, 1))
        if len(self.shoppers) >= 5:
            return
        email = (self.users if registered else GUEST_EMAILS)[which]
        self._new_shopper(registered=registered, email=email)

    # --- cart ---------------------------------------------------------------------------

    def add_item(self, data: st.DataObject, shopper: Shopper | None = None) -> None:
        qty = data.draw(st.sampled_from([1, 1, 2, 3]))
        shopper = shopper or self._pick(self.shoppers, data)
        sku = self._pick(self.skus, data)
        body: dict[str, Any] = {"product_id": sku.product_id, "quantity": qty}
        if sku.variant_id:
            body["variant_id"] = sku.variant_id
        self._cart(shopper, "POST", "/api/cart/items", json=body)

    def change_quantity(self, data: st.DataObject) -> None:
        qty = data.draw(st.integers(0, 4))
        shopper = self._pick(self.shoppers, data)
        items = self._cart(shopper, "GET", "/api/cart").json()["items"]
        if items:
            line = self._pick(items, data)
            self._cart(shopper, "PATCH", f"/api/cart/items/{line['id']}", json={"quantity": qty})

    def remove_item(self, data: st.DataObject) -> None:
        shopper = self._pick(self.shoppers, data)
        items = self._cart(shopper, "GET", "/api/cart").json()["items"]
        if items:
            line = self._pick(items, data)
            self._cart(shopper, "DELETE", f"/api/cart/items/{line['id']}")

    def apply_coupon(self, data: st.DataObject) -> None:
        shopper, code = self._pick(self.shoppers, data), self._pick(sorted(self.coupons), data)
        self._cart(shopper, "POST", "/api/cart/coupons", json={"code": code.lower()})

    def remove_coupon(self, data: st.DataObject) -> None:
        shopper = self._pick(self.shoppers, data)
        applied = self._cart(shopper, "GET", "/api/cart").json()["coupons"]
        if applied:
            coupon = self._pick(applied, data)
            self._cart(shopper, "DELETE", f"/api/cart/coupons/{coupon['coupon_id']}")

    # --- checkout -----------------------------------------------------------------------

    def checkout_to_review(self, data: st.DataObject, shopper: Shopper | None = None) -> bool:
        """Start (or resume) the checkout and walk its events up to order review."""
        if shopper is None:
            found = [s for s in self.shoppers if s.items != 0 and s.state not in PAYING]
            if not found:
                return False
            shopper = self._pick(found, data)
        card = data.draw(st.sampled_from(["ok", "ok", "decline", "3ds"]))
        r = self._call(shopper.api, "POST", "/api/checkout")
        if r.status_code == 422 and r.json()["error"]["code"] == "cart_invalid":
            self._cart(shopper, "DELETE", "/api/cart")  # sold out meanwhile: start over
        if r.status_code not in (200, 201):
            return True
        shopper.checkout = str(r.json()["id"])
        self.checkouts.add(shopper.checkout)
        state = r.json()["state"]
        who = ("SELECT_REGISTERED", {}) if shopper.registered else ("SELECT_GUEST", {})
        walk: dict[str, tuple[str, dict[str, Any]]] = {
            "user_identification": who,
            "guest_info": ("SUBMIT_GUEST_INFO", {"email": shopper.email, "first_name": "Ada",
                                                 "last_name": "Lovelace"}),
            "shipping_address": ("SUBMIT_SHIPPING", {"address": NY}),
            "billing_address": ("USE_SHIPPING_ADDRESS", {}),
            "shipping_method": ("SELECT_SHIPPING", {"shipping_method_id": "us:ground"}),
            "payment_method": ("SELECT_PAYMENT", {"payment_method": {
                "type": "card", "payment_method_id": CARDS[card]}}),
        }  # fmt: skip
        for _ in range(len(walk)):
            if state not in walk:
                break
            type_, fields = walk[state]
            r = self._event(shopper, type_, **fields)
            if r.status_code != 200:
                break
            state = r.json()["state"]
        return True

    def _checkout_in(self, data: st.DataObject, *states: str) -> Shopper | None:
        return self._eligible(data, *states)

    def confirm_order(self, data: st.DataObject, shopper: Shopper | None = None) -> bool:
        shopper = shopper or self._checkout_in(data, "order_review")
        if shopper is None:
            return False
        r = self._event(shopper, "CONFIRM_ORDER")
        if r.status_code == 409 and r.json()["error"]["code"] in {
            "totals_changed",  # the customer saw the new totals
            "coupon_exhausted",  # the coupon ran out; it left the cart, confirm at full price
        }:
            self._event(shopper, "CONFIRM_ORDER")
        self._collect_events()
        return True

    def pay_in_browser(self, data: st.DataObject, shopper: Shopper | None = None) -> bool:
        """The browser confirms the payment and waits for the answer."""
        shopper = shopper or self._checkout_in(
            data, *PAYING, "payment_failed", "order_confirmation"
        )
        if shopper is None:
            return False
        r = self._call(shopper.api, "POST", "/api/payment/confirm",
                       json={"checkout_id": shopper.checkout})  # fmt: skip
        self._collect_events()
        if r.status_code == 200 and r.json()["state"] == "order_confirmation":
            assert r.json()["order_id"], r.text  # a paid checkout has its order at once
        return True

    def authenticate_3ds(self, data: st.DataObject, shopper: Shopper | None = None) -> bool:
        shopper = shopper or self._checkout_in(data, "payment_requires_action")
        if shopper is None:
            return False
        success = data.draw(st.booleans())
        self._call(shopper.api, "POST", "/api/payment/sandbox/authenticate",
                   json={"checkout_id": shopper.checkout, "success": success})  # fmt: skip
        self._collect_events()
        return True

    def pay_and_vanish(self, data: st.DataObject) -> bool:
        """Stripe.js confirms the payment, then the browser is gone: only the webhook or
        the sweeper can finish the order."""
        shopper = self._checkout_in(data, "payment_processing")
        if shopper is None:
            return False
        view = self._state(shopper)
        assert view is not None
        intent_id = (view["context"].get("payment") or {}).get("intent_id")
        if not intent_id:
            return True
        intent = self.w.run(self.w.gateway.retrieve_payment_intent(intent_id))
        if intent.status is IntentStatus.requires_confirmation:
            self.w.run(
                self.w.gateway.confirm_payment_intent(intent_id, idempotency_key=f"js:{intent_id}")
            )
        self._collect_events()
        return True

    def retry_payment(self, data: st.DataObject, shopper: Shopper | None = None) -> bool:
        shopper = shopper or self._checkout_in(data, "payment_failed")
        if shopper is None:
            return False
        card = data.draw(st.sampled_from(sorted(CARDS)))
        method = {"type": "card", "payment_method_id": CARDS[card]}
        if self._event(shopper, "RETRY_PAYMENT").status_code == 200:
            self._event(shopper, "SELECT_PAYMENT", payment_method=method)
        return True

    # --- webhooks ------------------------------------------------------------------------

    def deliver_webhook(self, data: st.DataObject) -> bool:
        """Any held-back event (so: late and out of order), maybe delivered twice."""
        if not self.pending:
            return False
        event = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        self._deliver(event)
        if data.draw(st.booleans()):
            self._deliver(event)
        self.delivered.append(event)
        return True

    def redeliver_webhook(self, data: st.DataObject) -> bool:
        """An old event again: the same id (a retry) or a new id with the same news."""
        if not self.delivered:
            return False
        event = dict(self._pick(self.delivered, data))
        if data.draw(st.booleans()):
            event["id"] = new_id("evt")
        self._deliver(event)
        return True

    # --- staff ---------------------------------------------------------------------------

    def _orders(self) -> list[Order]:
        async def read() -> list[Order]:
            async with self.w.runtime.db.transaction() as s:
                q = select(Order).where(Order.checkout_id.in_(sorted(self.checkouts)))
                return list(await s.scalars(q.order_by(Order.created_at, Order.id)))

        return self.w.run(read()) if self.checkouts else []

    def refund(self, data: st.DataObject) -> bool:
        orders = self._orders() if self.order_count else []
        if not orders:
            return False
        order = self._pick(orders, data)
        kind = data.draw(st.sampled_from(["full", "part", "cent", "too_much", "line"]))
        restock, same_key = data.draw(st.booleans()), data.draw(st.booleans())
        left = order.total - order.refunded_total
        amount = {"full": None, "part": max(left // 3, 1), "cent": 1, "too_much": left + 1,
                  "line": None}[kind]  # fmt: skip
        body: dict[str, Any] = {"restock": restock, "reason": "model"}
        if amount is not None:
            body["amount"] = amount
        if kind == "line":  # one unit of a line, restocked or not
            line = order.lines[data.draw(st.integers(0, len(order.lines) - 1))]
            body = {"lines": [{"line_id": line.id, "quantity": 1, "restock": restock}]}
            refusal = _line_refusal(line, restock)
        else:
            # A partial amount cannot say which units to restock (422 restock_needs_lines).
            refusal = restock and kind in ("part", "cent") and amount != left
        key = f"model-{order.id}-{order.refunded_total}" if same_key else new_id("idem")
        for _ in range(2 if same_key else 1):  # the same key again: the same refund, once
            r = self._call(self.admin, "POST", f"/api/admin/orders/{order.id}/refunds",
                           json=body, headers={"Idempotency-Key": key})  # fmt: skip
        if kind == "too_much" or left == 0 or refusal:
            assert r.status_code == 422, r.text
        else:
            assert r.status_code in (200, 201), r.text
        self._collect_events()
        return True

    def restock(self, data: st.DataObject) -> None:
        units = data.draw(st.integers(1, 3))
        sku = self._pick([s for s in self.skus if s.tracked], data)
        body: dict[str, Any] = {"delta": units, "reason": "model restock"}
        if sku.variant_id:
            body["variant_id"] = sku.variant_id
        r = self._call(self.admin, "PUT", f"/api/admin/inventory/{sku.product_id}", json=body)
        assert r.status_code == 200, r.text
        self.base[self.inventory[(sku.product_id, sku.variant_id)]] += units

    # --- time ----------------------------------------------------------------------------

    def time_passes(self, data: st.DataObject) -> None:
        """Past the reservation TTL (15 min) or the checkout TTL (30 min); the sweepers run."""
        minutes = data.draw(st.sampled_from([1, 16, 31]))
        if self.w.clock.now() - self.started + timedelta(minutes=minutes) > MAX_ELAPSED:
            return
        self.w.clock.advance(minutes=minutes)
        self._sweep()

    def settle(self, data: st.DataObject | None = None) -> None:
        """Every held-back webhook arrives and the sweeper passes its grace: nothing paid is
        left without its order (or its refund)."""
        for _ in range(5):
            while self.pending:
                event = self.pending.pop(0)
                self._deliver(event)
                self.delivered.append(event)
            if self.w.clock.now() - self.started < MAX_ELAPSED:
                self.w.clock.advance(minutes=1)
            self._sweep()
            if not self.pending:
                break
        self.check(settled=True)

    # --- the one rule ---------------------------------------------------------------------

    @rule(action=st.sampled_from(ACTIONS), data=st.data())
    def act(self, action: str, data: st.DataObject) -> None:
        """One shop action, drawn by weight. An action with nobody to do it (no checkout at
        review, no order to refund...) takes the next step of a purchase instead."""
        began = time.monotonic()
        if getattr(self, action)(data) is False:
            self.advance(data)
        self.w.timing["actions"] += time.monotonic() - began

    def advance(self, data: st.DataObject) -> None:
        """The next step of a purchase for some shopper: fill the cart, walk to review,
        confirm, pay (or authenticate, or retry after a failure)."""
        shopper = self._pick(self.shoppers, data)
        if shopper.items == 0 or shopper.state in ("order_confirmation", "expired"):
            self.add_item(data, shopper)
        elif shopper.state == "order_review":
            self.confirm_order(data, shopper)
        elif shopper.state in PAYING or shopper.state == "payment_failed":
            if shopper.state == "payment_requires_action":
                self.authenticate_3ds(data, shopper)
            elif shopper.state == "payment_failed":
                self.retry_payment(data, shopper)
            else:
                self.pay_in_browser(data, shopper)
        else:
            self.checkout_to_review(data, shopper)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def shop_is_consistent(self) -> None:
        self.w.steps += 1
        began = time.monotonic()
        self.check(settled=False)
        self.w.timing["invariants"] += time.monotonic() - began

    def check(self, *, settled: bool) -> None:
        snapshot = self.w.run(self._snapshot())
        check_invariants(self, snapshot, settled=settled)
        self.order_count = len(snapshot["orders"])
        states = {c.id: c.state for c in snapshot["checkouts"]}
        ordered = {o.checkout_id: o.cart_id for o in snapshot["orders"]}
        for shopper in self.shoppers:
            before, shopper.state = shopper.state, states.get(shopper.checkout or "")
            if shopper.state != before and shopper.state == "order_confirmation":
                # The converted cart stays with the order; the session shops on at once.
                r = self._call(shopper.api, "GET", "/api/cart")
                cart = r.json()
                assert r.status_code == 200 and cart["status"] == "active", r.text
                assert cart["id"] != ordered[shopper.checkout or ""], r.text
                assert cart["items"] == [], r.text
                shopper.items = 0
            elif shopper.state != before and shopper.state == "expired":
                shopper.items = -1  # released: ask again

    async def _snapshot(self) -> dict[str, Any]:
        inv_ids = sorted(self.base)
        coupon_ids = sorted(c["id"] for c in self.coupons.values())
        checkout_ids = sorted(self.checkouts)
        async with self.w.runtime.db.transaction() as s:
            inventory = list(
                await s.scalars(
                    select(InventoryItem)
                    .where(InventoryItem.id.in_(inv_ids))
                    .execution_options(populate_existing=True)
                )
            )
            reservations = list(
                await s.scalars(
                    select(InventoryReservation)
                    .where(InventoryReservation.status == "active")
                    .where(InventoryReservation.reference.is_not(None))
                    .execution_options(populate_existing=True)
                )
            )
            orders = list(
                await s.scalars(
                    select(Order)
                    .where(Order.checkout_id.in_(checkout_ids))
                    .execution_options(populate_existing=True)
                )
            )
            checkouts = list(
                await s.scalars(
                    select(Checkout)
                    .where(Checkout.id.in_(checkout_ids))
                    .execution_options(populate_existing=True)
                )
            )
            coupons = list(
                await s.scalars(
                    select(Coupon)
                    .where(Coupon.id.in_(coupon_ids))
                    .execution_options(populate_existing=True)
                )
            )
            redemptions = list(
                await s.scalars(
                    select(CouponRedemption).where(CouponRedemption.coupon_id.in_(coupon_ids))
                )
            )
            usage = list(
                await s.scalars(
                    select(CouponCustomerUsage).where(CouponCustomerUsage.coupon_id.in_(coupon_ids))
                )
            )
            holds = list(
                await s.scalars(
                    select(CouponHold).where(
                        CouponHold.coupon_id.in_(coupon_ids), CouponHold.status == "held"
                    )
                )
            )
            order_carts = sorted({o.cart_id for o in orders if o.cart_id})
            converted_lines = list(
                await s.scalars(select(CartItem).where(CartItem.cart_id.in_(order_carts)))
            )
        return {
            "inventory": inventory,
            "reservations": reservations,
            "orders": orders,
            "checkouts": checkouts,
            "coupons": coupons,
            "redemptions": redemptions,
            "usage": usage,
            "holds": holds,
            "converted_lines": converted_lines,
        }

    def teardown(self) -> None:
        try:
            if self.checkouts or self.pending:
                self.settle()
        finally:
            for client in self.clients:
                self.w.run(client.aclose())


def check_invariants(model: ShopCheckoutModel, snap: dict[str, Any], *, settled: bool) -> None:
    """Every invariant in the module docstring, over what this example created."""
    gateway = model.w.gateway
    orders: list[Order] = snap["orders"]
    by_checkout: dict[str, list[Order]] = {}
    for order in orders:
        by_checkout.setdefault(order.checkout_id, []).append(order)
    coupon_kind = {c["id"]: c for c in model.coupons.values()}

    # --- money of every order ----------------------------------------------------------
    sold: dict[str, int] = {}
    restocked: dict[str, int] = {}
    for o in orders:
        assert o.lines, o.id
        for ln in o.lines:
            assert ln.amount == ln.unit_price * ln.quantity, (o.id, ln.id)
            assert 0 <= ln.discount <= ln.amount, (o.id, ln.id, ln.discount, ln.amount)
            assert ln.tax >= 0
            assert ln.total == ln.amount - ln.discount + ln.tax, (o.id, ln.id)
            assert 0 <= ln.refunded_amount <= ln.total, (o.id, ln.id)
            assert 0 <= ln.restocked_quantity <= ln.quantity, (o.id, ln.id)
            assert 0 <= ln.refunded_quantity <= ln.quantity, (o.id, ln.id)
            inv = model.inventory.get((ln.product_id, ln.variant_id))
            if inv is not None:
                sold[inv] = sold.get(inv, 0) + ln.quantity
                restocked[inv] = restocked.get(inv, 0) + ln.restocked_quantity
        assert o.subtotal == sum(ln.amount for ln in o.lines), o.id
        line_discount = sum(ln.discount for ln in o.lines)
        line_tax = sum(ln.tax for ln in o.lines)
        shipping_tax = o.tax_total - line_tax
        shipping_discount = o.discount_total - line_discount
        assert shipping_tax >= 0, o.id
        assert 0 <= shipping_discount <= o.shipping_total, o.id
        assert o.shipping_refundable == o.shipping_total - shipping_discount + shipping_tax, o.id
        assert o.total == sum(ln.total for ln in o.lines) + o.shipping_refundable, o.id
        assert o.total == o.subtotal - o.discount_total + o.shipping_total + o.tax_total, o.id
        assert 0 <= o.discount_total <= o.subtotal + o.shipping_total, o.id
        promotions = o.meta.get("promotions") or []
        assert sum(p["amount"] + (p.get("shipping_amount") or 0) for p in promotions) == (
            o.discount_total
        ), (o.id, promotions, o.discount_total)
        for p in promotions:
            spec = coupon_kind.get(p["coupon_id"])
            assert spec is not None, p
            assert 0 <= p["amount"] <= o.subtotal, (o.id, p)
            if spec["type"] == "fixed_amount":
                assert p["amount"] <= spec["value"], (o.id, p)
            else:  # a percentage, rounded per line: at most a cent per line over
                limit = o.subtotal * spec["value"] // 10_000 + len(o.lines)
                assert p["amount"] <= limit, (o.id, p, o.subtotal)
        # --- refunded <= captured ---------------------------------------------------------
        assert len(o.payments) == 1, o.id
        payment = o.payments[0]
        assert payment.amount == o.total and payment.payment_intent_id == o.payment_intent_id
        done = [r for r in o.refunds if r.status == "succeeded"]
        assert len(done) == len(o.refunds), [(r.id, r.status) for r in o.refunds]
        assert o.refunded_total == sum(r.amount for r in done), o.id
        assert o.refunded_total == sum(ln.refunded_amount for ln in o.lines) + o.shipping_refunded
        assert 0 <= o.refunded_total <= payment.amount, o.id
        assert 0 <= o.shipping_refunded <= o.shipping_refundable, o.id
        intent = gateway._intents[o.payment_intent_id]
        assert intent.status is IntentStatus.succeeded, (o.id, intent.status)
        assert intent.amount == o.total, (o.id, intent.amount, o.total)
        assert intent.refunded == o.refunded_total, (o.id, intent.refunded, o.refunded_total)
        expected_status = (
            ("held_for_review" if o.status == "held_for_review" else "paid")
            if o.refunded_total == 0
            else ("refunded" if o.refunded_total == o.total else "partially_refunded")
        )
        assert o.status == expected_status, (o.id, o.status, o.refunded_total, o.total)

    # --- an order has the lines of the cart it converted ----------------------------------
    in_cart: dict[str, Counter[tuple[str, str | None, int]]] = {}
    for item in snap["converted_lines"]:
        key = (item.product_id, item.variant_id, item.quantity)
        in_cart.setdefault(item.cart_id, Counter())[key] += 1
    for o in orders:
        paid = Counter((ln.product_id, ln.variant_id, ln.quantity) for ln in o.lines)
        assert paid == in_cart.get(o.cart_id or "", Counter()), (o.id, paid, in_cart.get(o.cart_id))

    # --- one order per paid checkout ----------------------------------------------------
    assert all(len(v) == 1 for v in by_checkout.values()), by_checkout
    assert len({o.payment_intent_id for o in orders}) == len(orders)
    states = {c.id: c.state for c in snap["checkouts"]}
    for cid, state in states.items():
        has_order = cid in by_checkout
        assert has_order == (state == "order_confirmation"), (cid, state, has_order)
    ordered_intents = {o.payment_intent_id for o in orders}
    for intent in gateway._intents.values():
        cid = intent.metadata.get("checkout_id")
        if cid not in model.checkouts or intent.status is not IntentStatus.succeeded:
            continue
        if intent.id in ordered_intents:
            continue
        current = next((c for c in snap["checkouts"] if c.id == cid), None)
        current_intent = ((current.context if current else {}).get("payment") or {}).get(
            "intent_id"
        )
        in_flight = current is not None and current.state in PAYING and current_intent == intent.id
        refunded_in_full = intent.refunded == intent.amount
        assert refunded_in_full or (in_flight and not settled), (
            "a paid intent without an order",
            intent.id, cid, states.get(cid), intent.refunded, intent.amount, settled,
        )  # fmt: skip
    # A checkout that ended refunded says so truly: its payment went back in full.
    for c in snap["checkouts"]:
        if c.state == "payment_refunded":
            payment = c.context.get("payment") or {}
            given = gateway._intents[payment["intent_id"]]
            told = (payment.get("refund") or {}).get("amount")
            assert given.refunded == given.amount == told, (c.id, given.refunded, told)

    # --- stock ---------------------------------------------------------------------------
    held: dict[str, int] = {}
    for res in snap["reservations"]:
        for ln in res.lines:
            if ln.inventory_id in model.base:
                held[ln.inventory_id] = held.get(ln.inventory_id, 0) + ln.quantity
    for row in snap["inventory"]:
        expected = model.base[row.id] - sold.get(row.id, 0) + restocked.get(row.id, 0)
        assert row.on_hand == expected, (row.sku, row.on_hand, expected, model.base[row.id])
        assert row.on_hand >= 0, (row.sku, row.on_hand)
        assert 0 <= row.reserved <= row.on_hand, (row.sku, row.reserved, row.on_hand)
        assert row.reserved == held.get(row.id, 0), (row.sku, row.reserved, held.get(row.id))

    # --- coupons -------------------------------------------------------------------------
    used_by_orders: dict[str, int] = {}
    per_key: dict[tuple[str, str], int] = {}
    for o in orders:
        keys = [f"email:{o.email.strip().lower()}"] if o.email else []
        if o.user_id:
            keys.insert(0, f"user:{o.user_id}")
        for p in o.meta.get("promotions") or []:
            used_by_orders[p["coupon_id"]] = used_by_orders.get(p["coupon_id"], 0) + 1
            for key in keys:
                per_key[(p["coupon_id"], key)] = per_key.get((p["coupon_id"], key), 0) + 1
    # A live hold (CONFIRM_ORDER until the order or the release) already took its use.
    held: dict[str, int] = {}
    for h in snap["holds"]:
        held[h.coupon_id] = held.get(h.coupon_id, 0) + 1
        for key in customer_keys(h.user_id, h.email):
            per_key[(h.coupon_id, key)] = per_key.get((h.coupon_id, key), 0) + 1
    live = [r for r in snap["redemptions"] if r.released_at is None]
    order_ids = {o.id for o in orders}
    assert all(r.order_id in order_ids for r in live), "a live coupon claim without its order"
    for c in snap["coupons"]:
        uses = used_by_orders.get(c.id, 0)
        claims = sum(1 for r in live if r.coupon_id == c.id)
        assert uses == claims, (c.code, uses, claims)
        assert c.usage_count == uses + held.get(c.id, 0), (c.code, c.usage_count, uses, held)
        if c.usage_limit is not None:
            assert c.usage_count <= c.usage_limit, (c.code, c.usage_count, c.usage_limit)
    limits = {c.id: c.per_customer_limit for c in snap["coupons"]}
    for u in snap["usage"]:
        assert u.usage_count == per_key.get((u.coupon_id, u.customer_key), 0), (
            u.coupon_id, u.customer_key, u.usage_count,
        )  # fmt: skip
        limit = limits[u.coupon_id]
        assert limit is None or u.usage_count <= limit, (u.customer_key, u.usage_count)
    assert set(per_key) <= {(u.coupon_id, u.customer_key) for u in snap["usage"]}


def _model_settings(database_url: str, redis_url: str) -> Settings:
    many = "100000000/minute"
    return load_settings(
        mode="test",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        background_tasks=False,
        log_level="ERROR",
        argon2_time_cost=1,
        argon2_memory_cost_kib=1024,
        argon2_parallelism=1,
        payment_gateway="sandbox",
        sandbox_webhook_secret=SECRET,
        # Every model shopper calls from the same test client, with the same test cards:
        # the limits are out of the way (and the limiter off, to spend the budget on steps).
        rate_limit_enabled=False,
        rate_limit_global=many,
        rate_limit_checkout=many,
        rate_limit_create_intent=many,
        rate_limit_login=many,
        payment_max_attempts_per_session=1_000_000,
        payment_max_attempts_per_email=1_000_000,
        payment_max_attempts_per_card=1_000_000,
        access_token_ttl_seconds=24 * 3600,
    )


def _fix_world(test_settings: Settings, backend: str) -> World:
    from tillpoint.auth.service import create_user

    loop = asyncio.new_event_loop()
    clock = MovableClock()
    gateway = SandboxGateway(SECRET, event_log=None)  # the model replays every event
    runtime = build_runtime(test_settings, gateway=gateway, clock=clock)
    app = create_app(runtime=runtime)
    # The model delivers the gateway's webhooks itself (late, twice, out of order).
    gateway._deliverers.clear()
    loop.run_until_complete(create_user(runtime, email=ADMIN, password=PASSWORD, role="admin"))
    return World(loop, runtime, app, gateway, clock, backend)


async def _coverage(world: World) -> dict[str, int]:
    """How much of the shop the run reached (so a quiet model cannot pass unnoticed)."""
    from sqlalchemy import func

    from tillpoint.orders.models import Refund
    from tillpoint.payments.models import PaymentAttempt

    async def count(q: Any) -> int:
        async with world.runtime.db.transaction() as s:
            return int(await s.scalar(q) or 0)

    n = func.count()
    intents = list(world.gateway._intents.values())
    return {
        "checkouts": await count(select(n).select_from(Checkout)),
        "orders": await count(select(n).select_from(Order)),
        "orders_with_coupons": await count(select(n).select_from(Order).where(
            Order.discount_total > 0)),
        "refunds": await count(select(n).select_from(Refund)),
        "restocking_refunds": await count(select(n).select_from(Refund).where(
            Refund.restock.is_(True))),
        "declined_or_failed_3ds": await count(select(n).select_from(PaymentAttempt).where(
            PaymentAttempt.status == "requires_payment_method")),
        "paid_without_order_refunded": await count(select(n).select_from(PaymentAttempt).where(
            PaymentAttempt.status == "refunded")),
        "expired_checkouts": await count(select(n).select_from(Checkout).where(
            Checkout.state == "expired")),
        "expired_reservations": await count(select(n).select_from(InventoryReservation).where(
            InventoryReservation.status == "expired")),
        "three_ds_intents": sum(1 for i in intents if i.payment_method_id == CARDS["3ds"]),
        "webhook_events": len(world.gateway.events),
    }  # fmt: skip


@pytest.fixture
async def model_redis_url() -> str:
    """Real Redis, not flushed: every key the model makes hangs off fresh random ids, and
    the large run drives both backends at once from two processes on one Redis database."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        _unavailable("Redis", str(exc))
    finally:
        await client.aclose()
    return REDIS_URL


def _batch_seed(backend: str, batch: int) -> int:
    """Batch ``batch``'s seed on ``backend``: distinct per backend and per batch."""
    digest = hashlib.sha256(f"{BASE_SEED}:{backend}:{batch}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def test_whole_shop_follows_its_invariants(
    database_url: str, model_redis_url: str, backend: str
) -> None:
    world = _fix_world(_model_settings(database_url, model_redis_url), backend)
    ShopCheckoutModel.world = world
    began = time.monotonic()
    batch = 0
    try:
        while world.steps < TOTAL_STEPS:
            if MAX_SECONDS and time.monotonic() - began > MAX_SECONDS:
                break
            left = TOTAL_STEPS - world.steps
            run_state_machine_as_test(
                seed(_batch_seed(backend, batch))(ShopCheckoutModel),
                settings=settings(
                    max_examples=min(max(left // STEPS_PER_EXAMPLE, 1), EXAMPLES_PER_BATCH),
                    stateful_step_count=min(STEPS_PER_EXAMPLE, max(left, 1)),
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    database=None,
                ),
            )
            batch += 1
            elapsed = time.monotonic() - began
            print(f"[{backend}] {world.steps} steps, {world.examples} examples, "
                  f"{elapsed:.0f} s, no violation", flush=True)  # fmt: skip
        seconds = round(time.monotonic() - began, 1)
        covered = world.run(_coverage(world))
    finally:
        world.run(world.runtime.close())
        world.loop.close()
    summary = {"backend": backend, "seed": BASE_SEED, "batches": batch,
               "steps": world.steps, "examples": world.examples,
               "seconds": seconds, "violations": 0, "covered": covered,
               "timing": {k: round(v, 1) for k, v in world.timing.items()}}  # fmt: skip
    print(f"\nwhole-shop model: {json.dumps(summary)}")
    for call, times in sorted(world.calls.items()):
        print(f"{times:8d}  {call}")
    report = os.environ.get("TILLPOINT_MODEL_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(summary) + "\n")
    assert world.steps >= (1 if MAX_SECONDS else TOTAL_STEPS)
    if world.steps >= 200:  # a model that stopped reaching orders would prove nothing
        assert covered["orders"] > 0 and covered["checkouts"] > covered["orders"] // 2, covered
