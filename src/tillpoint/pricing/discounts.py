"""The one seam through which pricing asks promotions for discounts.

Until the promotions feature wires its calculation in here, there are no discounts.
Pricing applies the answer line by line (``line_discounts`` reduce each line before
tax, ``shipping_discount`` reduces shipping), so whatever this returns must satisfy
``DiscountResult``'s contract: per-line amounts that sum exactly, none above the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.pricing.types import NO_DISCOUNTS, DiscountResult, PricingLine
from tillpoint.runtime import Runtime


async def discounts_for(
    rt: Runtime,
    s: AsyncSession,
    *,
    cart_id: str,
    lines: Sequence[PricingLine],
    currency: str,
    shipping_amount: int,
    user_id: str | None,
    now: datetime,
) -> DiscountResult:
    """Discounts of the coupons applied to ``cart_id`` for these lines and this shipping.

    Runs inside the caller's unit of work ``s`` (read coupons through it: on SQLite a
    second transaction would wait on the caller's write lock). Pure of side effects:
    it may be called at every read of a checkout.
    """
    del rt, s, cart_id, lines, currency, shipping_amount, user_id, now
    return NO_DISCOUNTS
