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
