"""What a tax provider records after checkout: the sale of a paid order, its void when
the order is cancelled, and each refund (pure value types, JSON round-trip for the queue).

Amounts are integers in minor units, tax excluded (``amount``) with the tax we charged
beside it (``tax``): the provider records the tax we actually collected, not a new
calculation that could differ by a rate change since the quote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SaleAddress:
    country: str
    region: str = ""
    postal_code: str = ""
    city: str = ""
    line1: str = ""


@dataclass(frozen=True, slots=True)
class SaleLine:
    """One order line: ``unit_price * quantity - discount == amount`` (tax excluded)."""

    line_id: str
    item_code: str
    description: str
    quantity: int
    unit_price: int
    discount: int
    amount: int
    tax: int
    tax_category: str = "standard"


@dataclass(frozen=True, slots=True)
class TaxSale:
    """A paid order as the provider records it; ``code`` (the order number) is the
    provider's transaction code, so a retried commit names the same transaction."""

    order_id: str
    code: str
    date: str  # ISO date of the sale
    currency: str
    customer_code: str
    address: SaleAddress
    lines: tuple[SaleLine, ...]
    shipping_amount: int = 0
    shipping_tax: int = 0

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines) + self.shipping_amount

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines) + self.shipping_tax

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaxSale:
        return cls(
            **{
                **data,
                "address": SaleAddress(**data["address"]),
                "lines": tuple(SaleLine(**line) for line in data["lines"]),
            }
        )


@dataclass(frozen=True, slots=True)
class RefundedLine:
    """What a refund gives back of one sale line: units, amount (tax excluded) and tax."""

    line_id: str
    quantity: int
    amount: int
    tax: int


@dataclass(frozen=True, slots=True)
class TaxRefund:
    """One refund of a recorded sale; ``code`` (our refund id) is its transaction code."""

    order_id: str
    code: str
    date: str
    lines: tuple[RefundedLine, ...]
    shipping_amount: int = 0
    shipping_tax: int = 0

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines) + self.shipping_amount

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines) + self.shipping_tax

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaxRefund:
        return cls(**{**data, "lines": tuple(RefundedLine(**line) for line in data["lines"])})


def is_full_refund(sale: TaxSale, refund: TaxRefund) -> bool:
    return refund.amount == sale.amount and refund.tax == sale.tax


def whole_lines(sale: TaxSale, refund: TaxRefund) -> bool:
    """Whether the refund gives back whole sale lines (and all of shipping, or none)."""
    by_id = {line.line_id: line for line in sale.lines}
    for part in refund.lines:
        line = by_id.get(part.line_id)
        if line is None or (part.amount, part.tax) != (line.amount, line.tax):
            return False
    shipping = (refund.shipping_amount, refund.shipping_tax)
    return shipping in ((0, 0), (sale.shipping_amount, sale.shipping_tax))


class TaxRecorder(Protocol):
    """A provider that records transactions; each call is idempotent by its code and
    raises :class:`~tillpoint.tax.types.TaxProviderError` to be retried later."""

    name: str

    async def commit_sale(self, sale: TaxSale) -> None: ...

    async def void_sale(self, sale: TaxSale) -> None: ...

    async def refund_sale(self, sale: TaxSale, refund: TaxRefund) -> None: ...
