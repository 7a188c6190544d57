"""Prorating a refund over what was paid (pure).

Each order line's ``total`` is what the customer paid for it, after its share of
every discount (the promotions' allocation) and with its tax; shipping is one more
part. A refund is split in proportion to what is still refundable per part, with
largest-remainder allocation so the parts sum to the refund exactly and no part
ever exceeds what is left of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from tillpoint.money import allocate

SHIPPING = "shipping"


def prorate_refund(amount: int, refundable: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` over ``refundable`` (part id → minor units still refundable).

    Raises ``ValueError`` if ``amount`` is not positive or exceeds the total refundable.
    """
    remaining = sum(refundable.values())
    if amount <= 0:
        raise ValueError("refund amount must be positive")
    if amount > remaining:
        raise ValueError(f"refund amount {amount} exceeds the {remaining} still refundable")
    keys = [k for k, v in refundable.items() if v > 0]
    parts = allocate(amount, [refundable[k] for k in keys])
    # Proportional shares of a smaller amount never exceed their weight, so no part
    # is over-refunded (largest remainder adds at most one unit to a fractional share).
    return {k: p for k, p in zip(keys, parts, strict=True) if p}
