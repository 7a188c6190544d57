"""What a tax provider is asked and what it answers (pure value types).

Rates are in parts per million (``1_000_000`` = 100 %) because real rates such as
Québec's 9.975 % do not fit whole basis points.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class TaxAddress:
    country: str
    region: str = ""
    postal_code: str = ""
    city: str = ""


@dataclass(frozen=True, slots=True)
class TaxableLine:
    """One line's amount after discounts, in minor units."""

    line_id: str
    product_id: str
    quantity: int
    amount: int
    tax_category: str = "standard"


@dataclass(frozen=True, slots=True)
class TaxRequest:
    currency: str
    address: TaxAddress
    lines: tuple[TaxableLine, ...]
    shipping_amount: int = 0

    def cache_key(self) -> str:
        """A stable digest of every input, for the result cache."""
        raw = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TaxBreakdownItem:
    """Tax of one rate (jurisdiction + name + rate) over the whole order."""

    jurisdiction: str
    name: str
    rate_ppm: int
    taxable_amount: int
    tax_amount: int


@dataclass(frozen=True, slots=True)
class TaxCalculation:
    """The seed's ``TaxCalculation``: tax per line and on shipping, with its breakdown.

    ``inclusive`` means the amounts already contained the tax (EU style) and the tax
    was extracted; otherwise it is added on top (US style).
    """

    provider: str
    inclusive: bool
    line_taxes: tuple[tuple[str, int], ...]
    shipping_tax: int
    breakdown: tuple[TaxBreakdownItem, ...]

    @property
    def tax_amount(self) -> int:
        return sum(t for _, t in self.line_taxes) + self.shipping_tax

    def line_tax(self, line_id: str) -> int:
        return dict(self.line_taxes).get(line_id, 0)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["line_taxes"] = [list(p) for p in self.line_taxes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaxCalculation:
        return cls(
            provider=data["provider"],
            inclusive=data["inclusive"],
            line_taxes=tuple((str(k), int(v)) for k, v in data["line_taxes"]),
            shipping_tax=int(data["shipping_tax"]),
            breakdown=tuple(TaxBreakdownItem(**b) for b in data["breakdown"]),
        )


class TaxProviderError(Exception):
    """The provider could not calculate; the checkout must not be priced."""


class TaxProvider(Protocol):
    name: str

    async def calculate(self, request: TaxRequest) -> TaxCalculation: ...
