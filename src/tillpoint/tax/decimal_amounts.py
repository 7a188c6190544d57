"""Decimal amounts as the tax providers write them ("12.50" dollars) ↔ our minor units.

AvaTax and TaxJar speak decimal currency amounts in JSON numbers. We parse those with
``Decimal`` (the JSON decoder is told to, so no float ever holds money), round to the
currency's minor unit half-up, and spread a provider's total over our lines with the
largest-remainder method, so the lines always sum to the total the provider stated.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tillpoint.money import allocate, exponent


def to_decimal(minor: int, currency: str) -> Decimal:
    """``1250`` USD cents → ``Decimal("12.50")`` (exact: a shift of the decimal point)."""
    return Decimal(minor).scaleb(-exponent(currency))


def to_minor(value: object, currency: str) -> int:
    """A provider's decimal amount (``Decimal``, ``int`` or numeric text) → minor units,
    rounded half-up. Floats are refused: they cannot hold money exactly."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"not a decimal amount: {value!r}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a decimal amount: {value!r}")
    return int(amount.scaleb(exponent(currency)).to_integral_value(rounding=ROUND_HALF_UP))


def rate_to_ppm(rate: object) -> int:
    """A rate as a fraction (``0.08875``) → parts per million (``88750``), half-up."""
    if isinstance(rate, (bool, float)):
        raise ValueError(f"not a decimal rate: {rate!r}")
    try:
        value = rate if isinstance(rate, Decimal) else Decimal(str(rate))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal rate: {rate!r}") from exc
    return int((value * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))


def spread(total: int, shares: Sequence[Decimal]) -> list[int]:
    """``total`` minor units split in proportion to ``shares`` (the provider's own per-line
    amounts, any precision), summing to ``total`` exactly.

    The shares are scaled to integers at their finest precision first, so the split is
    the integer largest-remainder allocation of :func:`tillpoint.money.allocate`.
    """
    if not shares:
        if total:
            raise ValueError("a non-zero tax over no lines")
        return []
    if any(s < 0 for s in shares) or total < 0:
        raise ValueError("negative tax shares")
    places = max(0, *(-int(s.as_tuple().exponent) for s in shares))
    weights = [int(s.scaleb(places)) for s in shares]
    if sum(weights) == 0:
        # No line carries tax by the provider's own figures: a stated total cannot be placed.
        if total:
            raise ValueError("the provider stated tax but no line carries any")
        return [0] * len(shares)
    return allocate(total, weights)
