"""Holding a cart's stock: one active reservation per cart, keyed by the cart's version.

The id is derived from the cart id and version, so a double click (or the checkout and
the page both asking) reserves once; a newer cart version replaces the older hold. The
cart's row is locked first, so two holds of one cart cannot both stay active.

What one owner (a customer, else a session) holds at once is capped:
``inventory_hold_max_per_sku`` units of a stock row and ``inventory_hold_max_units`` in
all (tracked lines only: untracked stock is never short), counting every active
reservation of every cart it owns: cart holds and checkouts' reservations alike (a
checkout's CONFIRM_ORDER holds the stock until its payment ends, which a 3-D Secure
challenge left open stretches to the whole TTL). Otherwise one anonymous session could
hold a whole SKU, through one cart or many, and lock every other buyer out.

Holding a whole cart (its row lock, what its owner holds elsewhere, then these steps) is
:mod:`tillpoint.cart.stock_hold`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.db import savepoint
from tillpoint.errors import NotFound
from tillpoint.inventory.errors import ReservationCapReached
from tillpoint.inventory.models import (
    InventoryItem,
    InventoryReservation,
    InventoryReservationLine,
)
from tillpoint.inventory.reservations import (
    ACTIVE,
    Reservation,
    release_reservation,
)
from tillpoint.inventory.stock import row_for, stock_rows
from tillpoint.runtime import Runtime

HOLD_PREFIX = "hold:"


def cart_reservation_id(cart_id: str, version: int) -> str:
    """The reservation id of a cart at one version."""
    return f"{HOLD_PREFIX}{cart_id}:v{version}"


async def release_other_holds(
    rt: Runtime, s: AsyncSession, cart_id: str, *, keep: str, only_prefix: str = ""
) -> int:
    """Release the cart's active reservations other than ``keep`` (only those whose id
    starts with ``only_prefix``, if given), so one cart holds stock once; returns how many."""
    older = await s.scalars(
        select(InventoryReservation.id).where(
            InventoryReservation.reference == cart_id,
            InventoryReservation.status == ACTIVE,
            InventoryReservation.id != keep,
        )
    )
    released = 0
    for old_id in sorted(older):
        if old_id.startswith(only_prefix):
            await savepoint(s, release_reservation(rt, s, old_id))
            released += 1
    return released


async def held_for(rt: Runtime, s: AsyncSession, references: Select[str]) -> dict[str, int]:
    """Units per stock row held now by the active reservations whose reference (the cart
    they were made for) is one of ``references``."""
    line, res = InventoryReservationLine, InventoryReservation
    rows = await s.execute(
        select(line.inventory_id, func.sum(line.quantity))
        .join(res, res.id == line.reservation_id)
        .where(
            res.status == ACTIVE,
            res.expires_at > rt.clock.now(),
            res.reference.in_(references),
            line.inventory_id.is_not(None),
        )
        .group_by(line.inventory_id)
    )
    return {str(inventory_id): int(units) for inventory_id, units in rows}


async def check_hold_cap(
    rt: Runtime,
    s: AsyncSession,
    lines: Sequence[tuple[str, str | None, int]],
    already: dict[str, int] | None = None,
) -> None:
    """Raise :class:`ReservationCapReached` if holding these (product, variant, quantity)
    lines, on top of what the owner ``already`` holds (units per stock row id, see
    :func:`held_for`), would exceed what one owner may hold."""
    per_sku, in_all = rt.settings.inventory_hold_max_per_sku, rt.settings.inventory_hold_max_units
    already = already or {}
    if not already and _within(lines, per_sku, in_all):
        return  # counting untracked lines too is an upper bound: no stock row to read
    rows = await stock_rows(s, [(p, v) for p, v, _ in lines])
    held: dict[str, tuple[InventoryItem, int]] = {}
    for product_id, variant_id, quantity in lines:
        row = row_for(rows, (product_id, variant_id))
        if row is not None:  # untracked stock is never short: holding it locks no one out
            before = held.get(row.id, (row, already.get(row.id, 0)))[1]
            held[row.id] = (row, before + quantity)
    over = [
        {
            "product_id": row.product_id,
            "variant_id": row.variant_id,
            "sku": row.sku,
            "requested": quantity,
            "max": per_sku,
        }
        for row, quantity in sorted(held.values(), key=lambda h: h[0].sku)
        if quantity > per_sku
    ]
    units = sum(quantity for _, quantity in held.values())
    units += sum(n for row_id, n in already.items() if row_id not in held)
    if over or units > in_all:
        raise ReservationCapReached(items=over, units=units, max_per_sku=per_sku, max_units=in_all)


def _within(lines: Sequence[tuple[str, str | None, int]], per_sku: int, in_all: int) -> bool:
    """Whether the lines fit both caps even if every one of them were tracked stock."""
    per_item: dict[tuple[str, str | None], int] = {}
    for product_id, variant_id, quantity in lines:
        per_item[(product_id, variant_id)] = per_item.get((product_id, variant_id), 0) + quantity
    return max(per_item.values(), default=0) <= per_sku and sum(per_item.values()) <= in_all


async def release_cart_hold(rt: Runtime, cart_id: str, reservation_id: str) -> Reservation:
    """Release a hold of this cart (``NotFound`` for another cart's reservation, and for
    the stock a checkout reserved for its payment: only the payment's end releases that)."""
    async with rt.db.transaction() as s:
        res = await s.get(InventoryReservation, reservation_id)
        if res is None or res.reference != cart_id or not res.id.startswith(HOLD_PREFIX):
            raise NotFound("No such reservation.", code="reservation_not_found")
        return await savepoint(s, release_reservation(rt, s, reservation_id))
