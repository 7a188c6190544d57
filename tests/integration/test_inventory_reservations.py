"""Reservations on SQLite and PostgreSQL: lifecycle, expiry, idempotency, all-or-nothing,
contention (no oversell), and use inside a caller's unit of work."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from tests import factories
from tests.inventory_support import extend, fulfill, level, release, reserve, stocked
from tests.support import MovableClock
from tillpoint.db import savepoint
from tillpoint.errors import Conflict
from tillpoint.inventory.errors import OutOfStock, ReservationClosed
from tillpoint.inventory.models import InventoryItem, InventoryReservation
from tillpoint.inventory.reservations import (
    StockRequest,
    expire_reservations,
    fulfill_reservation,
    get_reservation,
    reserve_inventory,
)
from tillpoint.inventory.stock import known_row_refs, stock_statuses
from tillpoint.runtime import Runtime
from tillpoint.sweeper import run_sweep


async def test_reserve_then_fulfill_takes_units_out_of_stock(rt: Runtime) -> None:
    p = await stocked(rt, 10)
    res = await reserve(rt, [StockRequest(p.id, 3)], "res-life-1")
    assert res.status == "active" and res.items[0].quantity == 3 and res.items[0].tracked
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved, row.available) == (10, 3, 7)
    done = await fulfill(rt, "res-life-1")
    assert done.status == "fulfilled"
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (7, 0)
    # Idempotent: fulfilling again takes nothing more.
    await fulfill(rt, "res-life-1")
    assert (await level(rt, p.id)).on_hand == 7


async def test_release_gives_units_back_once(rt: Runtime) -> None:
    p = await stocked(rt, 5)
    await reserve(rt, [StockRequest(p.id, 5)], "res-rel")
    assert (await level(rt, p.id)).available == 0
    released = await release(rt, "res-rel")
    assert released.status == "cancelled"
    await release(rt, "res-rel")
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (5, 0)


async def test_same_reservation_id_twice_reserves_once(rt: Runtime) -> None:
    p = await stocked(rt, 5)
    a = await reserve(rt, [StockRequest(p.id, 2)], "res-idem")
    b = await reserve(rt, [StockRequest(p.id, 2)], "res-idem")
    assert a.id == b.id and a.expires_at == b.expires_at
    assert (await level(rt, p.id)).reserved == 2
    with pytest.raises(Conflict) as err:
        await reserve(rt, [StockRequest(p.id, 3)], "res-idem")
    assert err.value.code == "reservation_mismatch"


async def test_concurrent_twins_with_one_id_reserve_once(rt: Runtime) -> None:
    p = await stocked(rt, 50)
    results = await asyncio.gather(
        *(reserve(rt, [StockRequest(p.id, 1)], "res-twin") for _ in range(10))
    )
    assert {r.id for r in results} == {"res-twin"}
    assert (await level(rt, p.id)).reserved == 1


async def test_multi_line_is_all_or_nothing(rt: Runtime) -> None:
    a = await stocked(rt, 5)
    b = await stocked(rt, 1)
    untracked = await factories.product(rt)
    with pytest.raises(OutOfStock) as err:
        await reserve(
            rt,
            [StockRequest(a.id, 2), StockRequest(untracked.id, 4), StockRequest(b.id, 2)],
            "res-all",
        )
    assert err.value.status == 409
    assert err.value.details["items"] == [
        {"product_id": b.id, "variant_id": None, "sku": b.sku, "requested": 2, "available": 1}
    ]
    assert (await level(rt, a.id)).reserved == 0
    assert (await level(rt, b.id)).reserved == 0
    async with rt.db.transaction() as s:
        assert await s.get(InventoryReservation, "res-all") is None
    ok = await reserve(
        rt, [StockRequest(a.id, 2), StockRequest(untracked.id, 4), StockRequest(b.id, 1)], "res-2"
    )
    assert [(i.product_id, i.tracked) for i in ok.items if not i.tracked] == [(untracked.id, False)]


async def test_variant_stock_and_product_level_fallback(rt: Runtime) -> None:
    from tillpoint.inventory.levels import adjust_stock

    p = await factories.product(rt, variants=[{}, {}])
    v0, v1 = p.variants
    await adjust_stock(rt, p.id, variant_id=v0.id, on_hand=1, reason="count")
    with pytest.raises(OutOfStock):
        await reserve(rt, [StockRequest(p.id, 2, v0.id)], "res-v0")
    # v1 has no row of its own and the product has none either: untracked.
    res = await reserve(rt, [StockRequest(p.id, 9, v1.id)], "res-v1")
    assert res.items[0].tracked is False


async def test_expiry_sweep_releases_and_marks_expired(rt: Runtime, clock: MovableClock) -> None:
    p = await stocked(rt, 3)
    res = await reserve(rt, [StockRequest(p.id, 3)], "res-exp")
    assert (res.expires_at - clock.now()).total_seconds() == 15 * 60
    clock.advance(minutes=14)
    assert await expire_reservations(rt) == 0
    clock.advance(minutes=2)
    swept = await run_sweep(rt)
    assert swept["inventory_reservations"] == 1
    assert (await get_reservation(rt, "res-exp")).status == "expired"
    assert (await level(rt, p.id)).available == 3
    with pytest.raises(ReservationClosed):
        await reserve(rt, [StockRequest(p.id, 3)], "res-exp")


async def test_extend_keeps_a_reservation_alive(rt: Runtime, clock: MovableClock) -> None:
    p = await stocked(rt, 3)
    await reserve(rt, [StockRequest(p.id, 1)], "res-3ds", ttl_seconds=60)
    clock.advance(seconds=50)
    extended = await extend(rt, "res-3ds", seconds=600)
    assert (extended.expires_at - clock.now()).total_seconds() == 600
    clock.advance(seconds=300)
    assert await expire_reservations(rt) == 0
    clock.advance(seconds=301)
    assert await expire_reservations(rt) == 1
    with pytest.raises(ReservationClosed):
        await extend(rt, "res-3ds")


async def test_fulfilling_an_expired_reservation_retakes_stock_or_refuses(
    rt: Runtime, clock: MovableClock
) -> None:
    p = await stocked(rt, 2)
    await reserve(rt, [StockRequest(p.id, 2)], "res-late", ttl_seconds=60)
    clock.advance(seconds=61)
    await expire_reservations(rt)
    await reserve(rt, [StockRequest(p.id, 1)], "res-other")
    with pytest.raises(OutOfStock):
        await fulfill(rt, "res-late")
    assert (await get_reservation(rt, "res-late")).status == "expired"
    await release(rt, "res-other")
    assert (await fulfill(rt, "res-late")).status == "fulfilled"
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (0, 0)


async def test_inside_callers_unit_of_work_refusal_leaves_it_usable(rt: Runtime) -> None:
    p = await stocked(rt, 1)
    q = await stocked(rt, 5)
    async with rt.db.transaction() as s:
        with pytest.raises(OutOfStock):
            await savepoint(s, reserve_inventory(rt, s, [StockRequest(p.id, 2)], "res-uow-1"))
        await savepoint(s, reserve_inventory(rt, s, [StockRequest(q.id, 2)], "res-uow-2"))
        await fulfill_reservation(rt, s, "res-uow-2")
    assert (await level(rt, q.id)).on_hand == 3
    # A caller's rollback takes the reservation with it.
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as s:
            await savepoint(s, reserve_inventory(rt, s, [StockRequest(q.id, 3)], "res-uow-3"))
            raise RuntimeError("order failed")
    assert (await level(rt, q.id)).reserved == 0


async def test_backorder_reserves_beyond_stock(rt: Runtime) -> None:
    p = await stocked(rt, 1, backorder_allowed=True, backorder_estimate="2-3 weeks")
    res = await reserve(rt, [StockRequest(p.id, 4)], "res-bo")
    assert res.items[0].backordered == 3
    await fulfill(rt, "res-bo")
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved, row.available) == (-3, 0, 0)


async def test_contention_200_buyers_50_units_never_oversells(rt: Runtime) -> None:
    p = await stocked(rt, 50)

    async def buy(n: int) -> bool:
        try:
            await reserve(rt, [StockRequest(p.id, 1)], f"res-c-{n}")
            return True
        except OutOfStock:
            return False

    outcomes = await asyncio.gather(*(buy(n) for n in range(200)))
    assert sum(outcomes) == 50
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (50, 50)
    assert row.on_hand - row.reserved == 0
    async with rt.db.transaction() as s:
        active = await s.scalar(
            select(func.count())
            .select_from(InventoryReservation)
            .where(InventoryReservation.status == "active")
        )
    assert active == 50


async def test_opposite_order_multi_line_reservations_do_not_deadlock(rt: Runtime) -> None:
    a = await stocked(rt, 100)
    b = await stocked(rt, 100)

    async def buy(n: int) -> None:
        lines = [StockRequest(a.id, 1), StockRequest(b.id, 1)]
        await reserve(rt, lines if n % 2 else lines[::-1], f"res-dl-{n}")

    await asyncio.gather(*(buy(n) for n in range(40)))
    assert (await level(rt, a.id)).reserved == 40
    assert (await level(rt, b.id)).reserved == 40


async def test_the_seeds_inventory_service_end_to_end(rt: Runtime) -> None:
    from tillpoint.inventory.feed import StockChange
    from tillpoint.inventory.service import InventoryService

    p = await stocked(rt, 4)
    inventory = InventoryService(rt)
    seen: list[StockChange] = []
    sub = inventory.subscribe_to_stock_updates([p.id], seen.append)
    check = await inventory.check_availability(p.id, 5)
    assert (check.is_available, check.available, check.requested) == (False, 4, 5)
    res = await inventory.reserve_inventory([StockRequest(p.id, 3)], "res-seed")
    assert res.status == "active" and await inventory.get_stock_level(p.id) == 1
    await inventory.release_reservation("res-seed")
    assert await inventory.get_stock_level(p.id) == 4
    await asyncio.sleep(0.05)
    sub.close()
    assert [c.available for c in seen] == [1, 4]


async def test_reserving_takes_the_stock_rows_its_unit_of_work_read_until_stock_is_written(
    rt: Runtime,
) -> None:
    """CONFIRM_ORDER reads the stock, then reserves: the rows it read are not read again,
    unless something wrote the stock in between (then they are)."""
    p = await stocked(rt, on_hand=5)
    key = (p.id, None)
    async with rt.db.transaction() as s:
        assert known_row_refs(s, {p.id}) is None  # nothing read yet
        await stock_statuses(s, {key: 2})
        known = known_row_refs(s, {p.id})
        assert known is not None and key in known
        await s.execute(
            update(InventoryItem)
            .where(InventoryItem.product_id == p.id)
            .values(on_hand=InventoryItem.on_hand + 1)
        )
        assert known_row_refs(s, {p.id}) is None  # written since: read them again
        await stock_statuses(s, {key: 2})
        res = await reserve_inventory(rt, s, [StockRequest(p.id, 2)], "memo_res_1")
    assert res.items[0].tracked
    row = await level(rt, p.id)
    assert (row.on_hand, row.reserved) == (6, 2)
