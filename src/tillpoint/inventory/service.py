"""The seed's ``InventoryService`` in one place, over the use-case functions.

=========================================  ==========================================
seed                                       here
=========================================  ==========================================
``checkAvailability(productId, quantity)``  :meth:`InventoryService.check_availability`
``reserveInventory(items, reservationId)``  :meth:`InventoryService.reserve_inventory`
``releaseReservation(reservationId)``       :meth:`InventoryService.release_reservation`
``getStockLevel(productId)``                :meth:`InventoryService.get_stock_level`
``subscribeToStockUpdates(ids, callback)``  :meth:`InventoryService.subscribe_to_stock_updates`
=========================================  ==========================================

This is an edge: each call is its own unit of work. Inside another unit of work (an
order, a checkout step) call the functions of ``reservations.py`` with its session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tillpoint.inventory.feed import StockUpdateCallback, Subscription
from tillpoint.inventory.reservations import (
    Reservation,
    StockRequest,
    fulfill_reservation,
    release_reservation,
    reserve_inventory,
)
from tillpoint.inventory.stock import InventoryCheck, check_availability, get_stock_level
from tillpoint.runtime import Runtime


class InventoryService:
    """Stock for one app instance: availability, reservations, levels, live updates."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def check_availability(
        self, product_id: str, quantity: int, *, variant_id: str | None = None
    ) -> InventoryCheck:
        """Can ``quantity`` be bought now; if not, backorder info, substitutes, waitlist."""
        return await check_availability(self.rt, product_id, quantity, variant_id=variant_id)

    async def reserve_inventory(
        self, items: Sequence[StockRequest], reservation_id: str
    ) -> Reservation:
        """Hold every line for the TTL, or none (``OutOfStock``); idempotent per id."""
        async with self.rt.db.transaction() as s:
            return await reserve_inventory(self.rt, s, items, reservation_id)

    async def release_reservation(self, reservation_id: str) -> None:
        """Give an active reservation's units back at once (no-op if not active)."""
        async with self.rt.db.transaction() as s:
            await release_reservation(self.rt, s, reservation_id)

    async def fulfill_reservation(self, reservation_id: str) -> Reservation:
        """The reserved units leave stock (an order was created)."""
        async with self.rt.db.transaction() as s:
            return await fulfill_reservation(self.rt, s, reservation_id)

    async def get_stock_level(self, product_id: str, variant_id: str | None = None) -> int | None:
        """Units available now; None when the product is untracked (always available)."""
        return await get_stock_level(self.rt, product_id, variant_id)

    def subscribe_to_stock_updates(
        self, product_ids: Iterable[str], callback: StockUpdateCallback
    ) -> Subscription:
        """Call ``callback`` for every committed change of these products (all instances
        when Redis is configured) until ``Subscription.close()``."""
        return self.rt.stock_feed.subscribe(product_ids, callback)
