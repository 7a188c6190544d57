"""Filling an empty cart with a checkout session's locked lines, in one cart write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.locks import LineLock
from tillpoint.cart.models import Cart, CartItem
from tillpoint.cart.service import change_cart
from tillpoint.cart.view import CartView
from tillpoint.catalog.public import resolve_sellable, sellables_for
from tillpoint.errors import Conflict
from tillpoint.ids import new_id
from tillpoint.inventory.public import ensure_available
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class LockedLine:
    product_id: str
    variant_id: str | None
    quantity: int
    lock: LineLock


async def fill_locked_cart(rt: Runtime, cart_id: str, lines: Sequence[LockedLine]) -> CartView:
    """Put ``lines`` into the empty cart ``cart_id`` at today's catalog prices, each locked;
    stock is checked for all of them (409 ``cart_not_empty`` if the cart has lines)."""

    async def change(s: AsyncSession, cart: Cart) -> None:
        if cart.items:
            raise Conflict("This cart already has lines.", code="cart_not_empty")
        keys = [(line.product_id, line.variant_id) for line in lines]
        await sellables_for(s, keys)
        demand: dict[tuple[str, str | None], int] = {}
        for position, line in enumerate(lines):
            sellable = await resolve_sellable(s, line.product_id, line.variant_id)
            key = (line.product_id, line.variant_id)
            demand[key] = demand.get(key, 0) + line.quantity
            cart.items.append(
                CartItem(
                    id=new_id("item"), product_id=line.product_id, variant_id=line.variant_id,
                    quantity=line.quantity, price=sellable.unit_price, currency=cart.currency,
                    meta=line.lock.as_meta(), position=position,
                )
            )  # fmt: skip
        await ensure_available(rt, s, demand, cart_id=cart.id)

    return await change_cart(rt, cart_id, change)
