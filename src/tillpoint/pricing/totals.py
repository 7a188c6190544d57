"""The seed's ``OrderTotal``: subtotal, discounts, shipping, tax and total, per line (pure).

Every amount is an integer in minor units. Discounts arrive already allocated to
lines (``DiscountResult.line_discounts``, summing exactly) and reduce each line
before tax; ``shipping_discount`` reduces shipping. Tax comes per line from the tax
provider. The invariant, checked by a property test:

    total == sum(line.total) + shipping_line.total
          == subtotal - discount + shipping + (0 if tax_inclusive else tax)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tillpoint.promotions.public import DiscountResult, PricingLine
from tillpoint.tax.public import TaxableLine, TaxBreakdownItem, TaxCalculation


def _flat(obj: Any) -> dict[str, Any]:
    """A dataclass of scalars as a dict (one level; nested fields are replaced by the caller)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class LineTotal:
    line_id: str
    product_id: str
    variant_id: str | None
    quantity: int
    unit_price: int
    amount: int  # unit_price * quantity
    discount: int
    net: int  # amount - discount
    tax: int
    total: int  # net, plus tax when tax is added on top


@dataclass(frozen=True, slots=True)
class ShippingTotal:
    method_id: str | None
    amount: int
    discount: int
    net: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True)
class OrderTotal:
    currency: str
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    tax_inclusive: bool
    tax_calculated: bool  # False until there is an address to tax for
    lines: tuple[LineTotal, ...]
    shipping_line: ShippingTotal
    tax_breakdown: tuple[TaxBreakdownItem, ...]
    promotions: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        # Field by field, not ``asdict``: its deep copies showed up in every checkout answer.
        data = _flat(self)
        data["lines"] = [_flat(line) for line in self.lines]
        data["shipping_line"] = _flat(self.shipping_line)
        data["tax_breakdown"] = [_flat(b) for b in self.tax_breakdown]
        data["promotions"] = list(self.promotions)
        return data

    def money_fingerprint(self) -> tuple[int, ...]:
        """What the customer agrees to pay: compared at CONFIRM_ORDER."""
        return (self.subtotal, self.discount, self.shipping, self.tax, self.total)


def discounted_lines(
    lines: Sequence[PricingLine], discounts: DiscountResult
) -> list[tuple[PricingLine, int]]:
    """Each line with its discount, capped at the line's amount."""
    per_line = discounts.line_discounts
    return [(line, min(max(per_line.get(line.line_id, 0), 0), line.amount)) for line in lines]


def taxable_lines(
    lines: Sequence[PricingLine], discounts: DiscountResult
) -> tuple[TaxableLine, ...]:
    """What the tax provider is asked to tax: each line's amount after discounts."""
    return tuple(
        TaxableLine(
            line.line_id, line.product_id, line.quantity, line.amount - d, line.tax_category
        )
        for line, d in discounted_lines(lines, discounts)
    )


def shipping_discount(shipping_amount: int, discounts: DiscountResult) -> int:
    return min(max(discounts.shipping_discount, 0), shipping_amount)


def compute_totals(
    *,
    currency: str,
    lines: Sequence[PricingLine],
    discounts: DiscountResult,
    shipping_amount: int,
    shipping_method_id: str | None,
    tax: TaxCalculation | None,
) -> OrderTotal:
    """Combine lines, discounts, shipping and tax into the order's totals."""
    inclusive = bool(tax and tax.inclusive)
    out = _line_totals(lines, discounts, tax, inclusive)
    ship = _shipping_total(shipping_amount, shipping_method_id, discounts, tax, inclusive)
    return OrderTotal(
        currency=currency,
        subtotal=sum(x.amount for x in out),
        discount=sum(x.discount for x in out) + ship.discount,
        shipping=shipping_amount,
        tax=sum(x.tax for x in out) + ship.tax,
        total=sum(x.total for x in out) + ship.total,
        tax_inclusive=inclusive,
        tax_calculated=tax is not None,
        lines=tuple(out),
        shipping_line=ship,
        tax_breakdown=tax.breakdown if tax else (),
        promotions=tuple(
            {
                "coupon_id": d.coupon_id,
                "code": d.code,
                "type": d.type,
                "amount": d.amount,
                "shipping_amount": d.shipping_amount,
            }
            for d in discounts.applied
        ),
    )


def _line_totals(
    lines: Sequence[PricingLine],
    discounts: DiscountResult,
    tax: TaxCalculation | None,
    inclusive: bool,
) -> list[LineTotal]:
    line_taxes = dict(tax.line_taxes) if tax else {}
    out: list[LineTotal] = []
    for line, disc in discounted_lines(lines, discounts):
        net = line.amount - disc
        line_tax = line_taxes.get(line.line_id, 0)
        out.append(
            LineTotal(
                line.line_id,
                line.product_id,
                line.variant_id,
                line.quantity,
                line.unit_price,
                line.amount,
                disc,
                net,
                line_tax,
                net if inclusive else net + line_tax,
            )
        )
    return out


def _shipping_total(
    amount: int,
    method_id: str | None,
    discounts: DiscountResult,
    tax: TaxCalculation | None,
    inclusive: bool,
) -> ShippingTotal:
    discount = shipping_discount(amount, discounts)
    net = amount - discount
    ship_tax = tax.shipping_tax if tax else 0
    return ShippingTotal(
        method_id, amount, discount, net, ship_tax, net if inclusive else net + ship_tax
    )
