"""Hold the stock of a cart's lines as they are now (the shopper's ``reserve`` button).

The cart's row is locked first, so two holds of one cart cannot both stay active. What
one owner holds is capped across all its carts (cart holds and checkouts alike); the
hold's id, its cap and the release of older holds are :mod:`tillpoint.inventory.holds`'.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.models import Cart
from tillpoint.db import savepoint
from tillpoint.errors import Conflict, NotFound
from tillpoint.inventory.public import (
    HOLD_PREFIX,
    Reservation,
    StockRequest,
    cart_reservation_id,
    check_hold_cap,
    held_for,
    release_other_holds,
    reserve_inventory,
)
from tillpoint.runtime import Runtime


async def reserve_cart(
    rt: Runtime, s: AsyncSession, cart_id: str, *, ttl_seconds: int | None = None
) -> Reservation:
    """Reserve every line of the cart as it is now (all or nothing, ``OutOfStock`` 409),
    releasing older holds of the same cart, in the unit of work ``s``. Idempotent per
    cart version."""
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
    owner = CartOwner(cart.id, cart.user_id, cart.session_id)
    await check_hold_cap(rt, s, lines, await held_by_owner(rt, s, owner))
    rid = cart_reservation_id(cart.id, cart.version)
    await release_other_holds(rt, s, cart.id, keep=rid, only_prefix=HOLD_PREFIX)
    items = [StockRequest(i.product_id, i.quantity, i.variant_id) for i in cart.items]
    return await savepoint(
        s, reserve_inventory(rt, s, items, rid, ttl_seconds=ttl_seconds, reference=cart.id)
    )


@dataclass(frozen=True, slots=True)
class CartOwner:
    """A cart and who owns it: its customer, else its guest session."""

    cart_id: str
    user_id: str | None
    session_id: str | None


async def held_by_owner(rt: Runtime, s: AsyncSession, cart: CartOwner) -> dict[str, int]:
    """Units per stock row the cart's owner (its customer, else its session) holds now
    through the active reservations of its *other* carts (this cart's own are replaced
    by the one being made)."""
    if cart.user_id is not None:
        owner = Cart.user_id == cart.user_id
    elif cart.session_id is not None:
        owner = Cart.session_id == cart.session_id
    else:
        return {}
    return await held_for(rt, s, select(Cart.id).where(owner, Cart.id != cart.cart_id))
