"""The value types of discounts, shared by promotions, the cart and pricing (pure, no I/O).

Promotions computes a :class:`DiscountResult` from :class:`PricingLine` s; pricing applies
it line by line, so tax is charged on discounted amounts and refunds can be prorated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PricingLine:
    """One cart line as pricing sees it; ``unit_price`` in minor units."""

    line_id: str
    product_id: str
    variant_id: str | None
    quantity: int
    unit_price: int
    tax_category: str = "standard"
    weight_grams: int = 0
    category: str = "general"

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    """What one coupon took off: per line (summing exactly) and off shipping."""

    coupon_id: str
    code: str
    type: str
    line_amounts: Mapping[str, int] = field(default_factory=dict)
    shipping_amount: int = 0

    @property
    def amount(self) -> int:
        return sum(self.line_amounts.values()) + self.shipping_amount


@dataclass(frozen=True, slots=True)
class DiscountResult:
    """Every applied discount, in the order they were applied."""

    applied: tuple[AppliedDiscount, ...] = ()

    @property
    def line_discounts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.applied:
            for line_id, amount in d.line_amounts.items():
                out[line_id] = out.get(line_id, 0) + amount
        return out

    @property
    def shipping_discount(self) -> int:
        return sum(d.shipping_amount for d in self.applied)

    @property
    def total(self) -> int:
        return sum(d.amount for d in self.applied)


NO_DISCOUNTS = DiscountResult()
