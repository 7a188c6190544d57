"""Holding a cart's stock: one active reservation per cart, keyed by the cart's version.

The id is derived from the cart id and version, so a double click (or the checkout and
the page both asking) reserves once; a newer cart version replaces the older hold. The
cart's row is locked first, so two holds of one cart cannot both stay active.

A hold has no purchase behind it, so what one cart (one session, or one customer) may
hold is capped: ``inventory_hold_max_per_sku`` units of a stock row and
``inventory_hold_max_units`` in all (tracked lines only: untracked stock is never
short). Otherwise one anonymous session could hold a whole SKU for the reservation TTL
and lock every other buyer out. Checkout's own reservation at CONFIRM_ORDER is not held
to this cap: the payment follows at once (a failed one releases it), so it is bounded by
the cart's line limit and the payment velocity limits instead.

Holding a whole cart (its row lock, then these steps) is :mod:`tillpoint.cart.stock_hold`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.errors import NotFound
from tillpoint.inventory.errors import ReservationCapReached
from tillpoint.inventory.models import InventoryItem, InventoryReservation
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
            await release_reservation(rt, old_id, s=s)
            released += 1
    return released


async def check_hold_cap(
    rt: Runtime, s: AsyncSession, lines: Sequence[tuple[str, str | None, int]]
) -> None:
    """Raise :class:`ReservationCapReached` if holding these (product, variant, quantity)
    lines would exceed what one cart may hold."""
    per_sku, in_all = rt.settings.inventory_hold_max_per_sku, rt.settings.inventory_hold_max_units
    rows = await stock_rows(s, [(p, v) for p, v, _ in lines])
    held: dict[str, tuple[InventoryItem, int]] = {}
    for product_id, variant_id, quantity in lines:
        row = row_for(rows, (product_id, variant_id))
        if row is not None:  # untracked stock is never short: holding it locks no one out
            held[row.id] = (row, held.get(row.id, (row, 0))[1] + quantity)
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
    if over or units > in_all:
        raise ReservationCapReached(items=over, units=units, max_per_sku=per_sku, max_units=in_all)


async def release_cart_hold(rt: Runtime, cart_id: str, reservation_id: str) -> Reservation:
    """Release a hold of this cart (``NotFound`` for another cart's reservation, and for
    the stock a checkout reserved for its payment: only the payment's end releases that)."""
    async with rt.db.transaction() as s:
        res = await s.get(InventoryReservation, reservation_id)
        if res is None or res.reference != cart_id or not res.id.startswith(HOLD_PREFIX):
            raise NotFound("No such reservation.", code="reservation_not_found")
        return await release_reservation(rt, reservation_id, s=s)
