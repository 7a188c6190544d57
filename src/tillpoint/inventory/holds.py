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
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.models import Cart
from tillpoint.errors import Conflict, NotFound
from tillpoint.inventory.errors import ReservationCapReached
from tillpoint.inventory.models import (
    InventoryItem,
    InventoryReservation,
    InventoryReservationLine,
)
from tillpoint.inventory.reservations import (
    ACTIVE,
    Reservation,
    StockRequest,
    release_reservation,
    reserve_inventory,
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


async def reserve_cart(
    rt: Runtime, cart_id: str, *, s: AsyncSession | None = None, ttl_seconds: int | None = None
) -> Reservation:
    """Reserve every line of the cart as it is now (all or nothing, ``OutOfStock`` 409),
    releasing older holds of the same cart. Idempotent per cart version."""
    if s is None:
        async with rt.db.transaction() as own:
            return await reserve_cart(rt, cart_id, s=own, ttl_seconds=ttl_seconds)
    cart = await s.scalar(
        select(Cart)
        .where(Cart.id == cart_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if cart is None:
        raise NotFound("No such cart.", code="cart_not_found")
    if not cart.items:
        raise Conflict("The cart is empty.", code="cart_empty")
    lines = [(i.product_id, i.variant_id, i.quantity) for i in cart.items]
    await check_hold_cap(rt, s, lines, await held_by_owner(rt, s, cart))
    rid = cart_reservation_id(cart.id, cart.version)
    await release_other_holds(rt, s, cart.id, keep=rid, only_prefix=HOLD_PREFIX)
    items = [StockRequest(i.product_id, i.quantity, i.variant_id) for i in cart.items]
    return await reserve_inventory(rt, items, rid, s=s, ttl_seconds=ttl_seconds, reference=cart.id)


async def held_by_owner(rt: Runtime, s: AsyncSession, cart: Cart) -> dict[str, int]:
    """Units per stock row the cart's owner (its customer, else its session) holds now
    through the active reservations of its *other* carts (this cart's own are replaced
    by the one being made)."""
    if cart.user_id is not None:
        owner = Cart.user_id == cart.user_id
    elif cart.session_id is not None:
        owner = Cart.session_id == cart.session_id
    else:
        return {}
    carts = select(Cart.id).where(owner, Cart.id != cart.id)
    line, res = InventoryReservationLine, InventoryReservation
    rows = await s.execute(
        select(line.inventory_id, func.sum(line.quantity))
        .join(res, res.id == line.reservation_id)
        .where(
            res.status == ACTIVE,
            res.expires_at > rt.clock.now(),
            res.reference.in_(carts),
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
    :func:`held_by_owner`), would exceed what one owner may hold."""
    per_sku, in_all = rt.settings.inventory_hold_max_per_sku, rt.settings.inventory_hold_max_units
    already = already or {}
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


async def release_cart_hold(rt: Runtime, cart_id: str, reservation_id: str) -> Reservation:
    """Release a hold of this cart (``NotFound`` for another cart's reservation, and for
    the stock a checkout reserved for its payment: only the payment's end releases that)."""
    async with rt.db.transaction() as s:
        res = await s.get(InventoryReservation, reservation_id)
        if res is None or res.reference != cart_id or not res.id.startswith(HOLD_PREFIX):
            raise NotFound("No such reservation.", code="reservation_not_found")
        return await release_reservation(rt, reservation_id, s=s)
