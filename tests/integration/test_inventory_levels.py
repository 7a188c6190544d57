"""Stock levels on SQLite and PostgreSQL: admin adjustments, fallbacks (backorder,
substitutes, waitlist), provider sync at the HTTP boundary, stock events, demo stock."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests import factories
from tests.inventory_support import level, release, reserve, stocked
from tests.support import MovableClock
from tillpoint.audit.models import AuditLog
from tillpoint.bootstrap import build_runtime
from tillpoint.config import load_settings
from tillpoint.db import savepoint
from tillpoint.errors import InvalidInput
from tillpoint.inventory.fallbacks import join_waitlist, notify_waitlists
from tillpoint.inventory.feed import StockChange
from tillpoint.inventory.levels import adjust_stock, low_stock
from tillpoint.inventory.models import StockNotification, WaitlistEntry
from tillpoint.inventory.providers import HttpJsonProvider
from tillpoint.inventory.reservations import StockRequest, reserve_inventory
from tillpoint.inventory.stock import check_availability, get_stock_level
from tillpoint.inventory.sync import sync_inventory
from tillpoint.outbox.service import LogSender, deliver_pending
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep


async def test_adjust_absolute_and_delta_with_reason_in_audit_log(rt: Runtime) -> None:
    p = await factories.product(rt)
    assert await get_stock_level(rt, p.id) is None  # untracked
    row = await adjust_stock(rt, p.id, on_hand=10, reason="initial count")
    assert (row.on_hand, row.available) == (10, 10)
    row = await adjust_stock(rt, p.id, delta=-4, reason="damaged in storage")
    assert row.on_hand == 6
    with pytest.raises(InvalidInput) as err:
        await adjust_stock(rt, p.id, delta=-7, reason="oops")
    assert err.value.code == "negative_stock"
    with pytest.raises(InvalidInput) as err:
        await adjust_stock(rt, p.id, on_hand=-1, reason="oops")
    assert err.value.code == "negative_stock"
    with pytest.raises(InvalidInput) as err:
        await adjust_stock(rt, p.id, on_hand=1, delta=1, reason="both")
    assert err.value.code == "on_hand_or_delta"
    with pytest.raises(InvalidInput) as err:
        await adjust_stock(rt, p.id, on_hand=1, reason="  ")
    assert err.value.code == "reason_required"
    assert await get_stock_level(rt, p.id) == 6
    async with rt.db.transaction() as s:
        logs = list(
            await s.scalars(
                select(AuditLog)
                .where(AuditLog.event_type == "stock_adjusted")
                .order_by(AuditLog.timestamp, AuditLog.id)
            )
        )
    reasons = sorted(log.meta["reason"] for log in logs)
    assert reasons == ["damaged in storage", "initial count"]


async def test_low_stock_lists_skus_at_or_below_threshold(rt: Runtime) -> None:
    low = await stocked(rt, 2, low_stock_threshold=5)
    edge = await stocked(rt, 5, low_stock_threshold=5)
    await stocked(rt, 50, low_stock_threshold=5)
    rows = await low_stock(rt)
    assert sorted(r.product_id for r in rows) == sorted([low.id, edge.id])
    # Reserved units count: available is what matters.
    plenty = await stocked(rt, 8, low_stock_threshold=5)
    await reserve(rt, [StockRequest(plenty.id, 4)], "res-low")
    assert plenty.id in {r.product_id for r in await low_stock(rt)}


async def test_backorder_info_in_the_check(rt: Runtime) -> None:
    p = await stocked(
        rt, 1, backorder_allowed=True, backorder_estimate="2-3 weeks", restock_date=date(2027, 1, 5)
    )
    check = await check_availability(rt, p.id, 3)
    assert check.is_available and check.available == 1
    assert check.backorder_info is not None
    assert check.backorder_info.backordered == 2
    assert check.backorder_info.estimated_delivery == "2-3 weeks"
    assert check.backorder_info.restock_date == date(2027, 1, 5)
    assert (await check_availability(rt, p.id, 1)).backorder_info is None


async def test_substitutes_are_in_stock_and_related(rt: Runtime) -> None:
    gone = await stocked(rt, 0, category="kitchen", tags=["tea"], price=3000)
    same_cat = await stocked(rt, 5, category="kitchen", tags=[], price=3100)
    shared_tag = await stocked(rt, 5, category="pantry", tags=["tea"], price=1000)
    untracked_cat = await factories.product(rt, category="kitchen", price=9000)
    await stocked(rt, 0, category="kitchen", tags=["tea"])  # also out: never suggested
    await stocked(rt, 9, category="books", tags=["novel"])  # unrelated
    check = await check_availability(rt, gone.id, 2)
    assert not check.is_available and check.available == 0 and check.waitlist
    assert [s.product_id for s in check.substitutes] == [
        same_cat.id,
        untracked_cat.id,
        shared_tag.id,
    ]
    assert check.substitutes[1].available is None


async def test_waitlist_notified_exactly_once_when_stock_returns(
    rt: Runtime, clock: MovableClock
) -> None:
    p = await stocked(rt, 0)
    first = await join_waitlist(rt, p.id, "Ada@Example.com")
    again = await join_waitlist(rt, p.id, "ada@example.com")
    assert first.id == again.id
    await join_waitlist(rt, p.id, "bob@example.com")
    with pytest.raises(InvalidInput):
        await join_waitlist(rt, p.id, "not-an-email")
    assert await notify_waitlists(rt) == 0  # still out of stock
    await adjust_stock(rt, p.id, on_hand=3, reason="delivery")  # notifies inline
    assert await notify_waitlists(rt) == 0  # and never again
    await adjust_stock(rt, p.id, on_hand=0, reason="sold elsewhere")
    await adjust_stock(rt, p.id, on_hand=4, reason="delivery")
    async with rt.db.transaction() as s:
        notes = list(await s.scalars(select(StockNotification)))
        entries = list(await s.scalars(select(WaitlistEntry)))
    assert sorted(n.email for n in notes) == ["ada@example.com", "bob@example.com"]
    assert all(e.notified_at is not None for e in entries)
    # Each shopper gets one email, sent through the outbox by the sweeper.
    sender = LogSender()
    assert await deliver_pending(rt, sender) == 2
    assert await deliver_pending(rt, sender) == 0
    assert sorted((m.kind, m.recipient) for m in sender.sent) == [
        ("back_in_stock", "ada@example.com"),
        ("back_in_stock", "bob@example.com"),
    ]
    assert all(m.payload["subject"] == f"Back in stock: {p.name}" for m in sender.sent)
    assert all(m.payload["product_id"] == p.id for m in sender.sent)


async def test_waitlist_sweeper_job_catches_stock_freed_by_a_release(rt: Runtime) -> None:
    p = await stocked(rt, 1)
    await reserve(rt, [StockRequest(p.id, 1)], "res-wl")
    await join_waitlist(rt, p.id, "cy@example.com")
    await release(rt, "res-wl")
    results = await asyncio.gather(run_sweep(rt), notify_waitlists(rt))
    assert results[0]["inventory_waitlist"] + results[1] == 1
    async with rt.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(StockNotification)) == 1


# --- external provider, at the HTTP boundary ------------------------------------------------


def provider_api(pages: list[dict[str, Any]], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != "Bearer key-123":
            return httpx.Response(401, json={"errors": "unauthorized"})
        cursor = request.url.params.get("cursor")
        index = int(cursor) if cursor else 0
        return httpx.Response(200, json=pages[index])

    return httpx.MockTransport(handler)


async def test_sync_pulls_every_page_and_skips_unknown_and_negative(rt: Runtime) -> None:
    a = await stocked(rt, 1)
    b = await factories.product(rt)  # in the catalog, untracked until the provider says so
    pages = [
        {
            "inventory_levels": [
                {"sku": a.sku, "available": 7},
                {"sku": "NOT-OURS", "available": 3},
            ],
            "next_cursor": "1",
        },
        {
            "inventory_levels": [
                {"sku": b.sku, "available": 11},
                {"sku": "NOT-OURS-2", "available": -2},
            ],
            "next_cursor": None,
        },
    ]
    seen: list[httpx.Request] = []
    provider = HttpJsonProvider(
        "https://stock.example/api", "key-123", transport=provider_api(pages, seen)
    )
    result = await sync_inventory(rt, provider)
    assert result.error is None and result.fetched == 4 and result.updated == 2
    assert result.unknown_skus == ["NOT-OURS", "NOT-OURS-2"]
    assert [r.url.path for r in seen] == ["/api/inventory_levels"] * 2
    assert seen[1].url.params["cursor"] == "1"
    assert (await level(rt, a.id)).on_hand == 7
    assert (await level(rt, b.id)).on_hand == 11


async def test_sync_refuses_negative_levels_of_known_skus(rt: Runtime) -> None:
    a = await stocked(rt, 4)
    pages = [{"inventory_levels": [{"sku": a.sku, "available": -1}], "next_cursor": None}]
    provider = HttpJsonProvider("https://x.example", "key-123", transport=provider_api(pages, []))
    result = await sync_inventory(rt, provider)
    assert result.invalid_skus == [a.sku] and result.updated == 0
    assert (await level(rt, a.id)).on_hand == 4


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="maintenance"),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"inventory_levels": [{"sku": "X", "available": 1.5}]}),
    ],
)
async def test_provider_failure_leaves_internal_stock_serving(
    rt: Runtime, answer: httpx.Response
) -> None:
    a = await stocked(rt, 4)
    provider = HttpJsonProvider(
        "https://x.example", "k", transport=httpx.MockTransport(lambda _r: answer)
    )
    result = await sync_inventory(rt, provider)
    assert result.error is not None and result.updated == 0
    assert (await level(rt, a.id)).on_hand == 4
    assert (await check_availability(rt, a.id, 4)).is_available


async def test_provider_unreachable_is_a_sync_error(rt: Runtime) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = HttpJsonProvider("https://x.example", "k", transport=httpx.MockTransport(refuse))
    result = await sync_inventory(rt, provider)
    assert result.error is not None and "refused" in result.error


# --- stock events -----------------------------------------------------------------------


async def test_changes_are_published_after_commit_and_never_on_rollback(rt: Runtime) -> None:
    p = await stocked(rt, 5)
    got: list[StockChange] = []
    sub = rt.stock_feed.subscribe([p.id], got.append)
    try:
        await reserve(rt, [StockRequest(p.id, 2)], "res-ev")
        await asyncio.sleep(0.05)
        assert [(c.sku, c.on_hand, c.reserved, c.available) for c in got] == [(p.sku, 5, 2, 3)]
        with pytest.raises(RuntimeError):
            async with rt.db.transaction() as s:
                await savepoint(s, reserve_inventory(rt, s, [StockRequest(p.id, 1)], "res-ev-2"))
                raise RuntimeError("rolled back")
        await asyncio.sleep(0.05)
        assert len(got) == 1
    finally:
        sub.close()


async def test_changes_fan_out_across_instances_through_redis(
    rt: Runtime, redis_url: str, settings: Any, clock: MovableClock
) -> None:
    shared = {**settings.model_dump(), "redis_url": redis_url}
    one = build_runtime(load_settings(**shared), clock=clock)
    two = build_runtime(load_settings(**shared), clock=clock)
    try:
        p = await stocked(one, 5)
        got: list[StockChange] = []
        sub = two.stock_feed.subscribe([p.id], got.append)
        await asyncio.wait_for(two.stock_feed.ready(), 5)
        await adjust_stock(one, p.id, delta=3, reason="delivery")
        # Up to 10 s: a loaded CI machine has delayed delivery past 2 s (it failed once).
        for _ in range(500):
            if got:
                break
            await asyncio.sleep(0.02)
        assert [(c.product_id, c.on_hand) for c in got] == [(p.id, 8)]
        assert json.loads(json.dumps(got[0].to_json()))["sku"] == p.sku
        sub.close()
    finally:
        await one.close()
        await two.close()


async def test_demo_stock_seed_is_idempotent(rt: Runtime) -> None:
    from tillpoint.inventory.demo import DEMO_STOCK, seed_demo_stock

    catalog = await factories.demo_catalog(rt)
    assert await seed_demo_stock(rt) == len(DEMO_STOCK)
    assert await seed_demo_stock(rt) == 0
    assert await get_stock_level(rt, catalog["GIFTCARD-50"].id) is None
    kettle = await check_availability(rt, catalog["KETTLE-GOOSE"].id, 1)
    assert kettle.available == 0 and kettle.backorder_info is not None
    assert await get_stock_level(rt, catalog["BEANS-HOUSE"].id) == 200


async def test_concurrent_first_adjustments_of_a_sku_all_count(rt: Runtime) -> None:
    p = await factories.product(rt)
    await asyncio.gather(*(adjust_stock(rt, p.id, delta=2, reason=f"box {n}") for n in range(5)))
    assert (await level(rt, p.id)).on_hand == 10


async def test_sync_screens_the_providers_skus_like_any_identifier(rt: Runtime) -> None:
    """A SKU the provider sends with a card number or a control character (a NUL fails
    PostgreSQL's text type) is refused with its place, never looked up, stored or echoed;
    the other levels still apply."""
    a = await stocked(rt, 4)
    items = [
        {"sku": "4111 1111 1111 1111", "available": 1},
        {"sku": "bad\x00sku", "available": 1},
        {"sku": "esc\x1b[31m", "available": 1},
        {"sku": a.sku, "available": 9},
    ]
    pages = [{"inventory_levels": items, "next_cursor": None}]
    provider = HttpJsonProvider("https://x.example", "key-123", transport=provider_api(pages, []))
    result = await sync_inventory(rt, provider)
    assert result.error is None and result.updated == 1
    assert [(f.path, f.code) for f in result.refused] == [
        (("inventory_levels", 0, "sku"), "card_data_not_accepted"),
        (("inventory_levels", 1, "sku"), "control_characters_not_allowed"),
        (("inventory_levels", 2, "sku"), "control_characters_not_allowed"),
    ]
    assert "4111" not in repr(result) and "\x00" not in repr(result)
    assert (await level(rt, a.id)).on_hand == 9


async def _cart_of(rt: Runtime, product_id: str, quantity: int, **owner: Any) -> str:
    from tillpoint.cart.models import Cart, CartItem
    from tillpoint.ids import new_id

    expires = rt.clock.now() + timedelta(days=1)
    async with rt.db.transaction() as s:
        cart = Cart(id=new_id("cart"), currency="USD", expires_at=expires, **owner)
        s.add(cart)
        await s.flush()
        s.add(CartItem(id=new_id("item"), cart_id=cart.id, product_id=product_id,
                       quantity=quantity, price=1500, currency="USD"))  # fmt: skip
    return cart.id


async def _reserve_cart(rt: Runtime, cart_id: str) -> None:
    from tillpoint.cart.stock_hold import reserve_cart

    async with rt.db.transaction() as s:
        await reserve_cart(rt, s, cart_id)


@pytest.mark.parametrize("owner", [{"session_id": "sess-many-carts"}, {"user_id": None}])
async def test_what_one_owner_holds_is_capped_across_its_carts(
    rt: Runtime, owner: dict[str, Any]
) -> None:
    """A session (or customer) with several carts holds at most the cap in all: 8 units
    held through one cart leave room for 2 through another, not 8 more."""
    from tillpoint.auth.service import create_user
    from tillpoint.inventory.errors import ReservationCapReached

    if "user_id" in owner:
        user = await create_user(rt, email="many@shop.example.com", password="a-long-password-1")
        owner = {"user_id": user.id}
    p = await stocked(rt, 20)
    first = await _cart_of(rt, p.id, 8, **owner)
    await _reserve_cart(rt, first)
    second = await _cart_of(rt, p.id, 8, **owner)
    with pytest.raises(ReservationCapReached) as err:
        await _reserve_cart(rt, second)
    assert err.value.details["items"][0]["requested"] == 16
    assert (await level(rt, p.id)).reserved == 8
    third = await _cart_of(rt, p.id, 2, **owner)
    await _reserve_cart(rt, third)
    assert (await level(rt, p.id)).reserved == 10
    stranger = await _cart_of(rt, p.id, 8, session_id="someone-else")
    await _reserve_cart(rt, stranger)  # another owner's holds are not counted
