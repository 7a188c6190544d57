"""The one seam through which pricing asks for the discounts of a cart's coupons.

The cart (``cart/applied_coupons.py``, over promotions' rules) re-checks the coupons
applied to it against these lines, this shipping and the current time, and prices the
ones that still hold. Pricing applies the answer line by line (``line_discounts``
reduce each line before tax, ``shipping_discount`` reduces shipping), so whatever this
returns must satisfy ``DiscountResult``'s contract: per-line amounts that sum exactly,
none above the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.cart.public import price_applied_coupons
from tillpoint.promotions.public import DiscountResult, PricingLine
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
    it may be called at every read of a checkout. A coupon that no longer holds is
    left out here and removed, with a notice, when the order is confirmed.
    """
    pricing = await price_applied_coupons(
        rt,
        s,
        cart_id=cart_id,
        lines=lines,
        currency=currency,
        shipping_amount=shipping_amount,
        user_id=user_id,
        now=now,
    )
    return pricing.result
