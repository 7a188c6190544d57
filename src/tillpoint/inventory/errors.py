"""Inventory error codes (mapped to HTTP once, by their base class, in ``web/errors.py``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tillpoint.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class Shortage:
    """One line that cannot be had: how many were asked for and how many are available."""

    product_id: str
    variant_id: str | None
    sku: str
    requested: int
    available: int


class OutOfStock(Conflict):
    """Not enough stock for at least one line (409 ``out_of_stock``); nothing was taken."""

    code = "out_of_stock"

    def __init__(self, shortages: list[Shortage], **kw: Any) -> None:
        first = shortages[0]
        super().__init__(
            f"Only {first.available} of {first.sku} available, {first.requested} requested.",
            details={"items": [asdict(x) for x in shortages], "available": first.available},
            **kw,
        )
        self.shortages = shortages


class ReservationNotFound(NotFound):
    code = "reservation_not_found"


class ReservationClosed(Conflict):
    """The reservation expired or was cancelled; reserve again under a new id (409)."""

    code = "reservation_closed"


class ReservationCapReached(Conflict):
    """A cart hold would exceed what one session or customer may hold (409
    ``reservation_cap_reached``); nothing was taken. ``details`` names the lines over the
    per-SKU cap (``items``) and the hold's total (``units``) against ``max_units``."""

    code = "reservation_cap_reached"

    def __init__(
        self, *, items: list[dict[str, Any]], units: int, max_per_sku: int, max_units: int
    ):
        super().__init__(
            f"One shopper may hold at most {max_per_sku} of an item and {max_units} in all; "
            "lower the quantities or go on to checkout.",
            details={
                "items": items,
                "units": units,
                "max_per_sku": max_per_sku,
                "max_units": max_units,
            },
        )
