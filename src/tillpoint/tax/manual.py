"""The default tax provider: our own rate tables by country and region (pure, no I/O).

A jurisdiction has one or more components (Canada's GST + PST, say), each with a rate
per product tax category (``standard``, ``reduced``, ``exempt``), whether it taxes
shipping, and whether the shop's prices there already include tax (EU, UK, Japan,
Australia) or tax is added on top (US, Canada). Tax is computed per line and per
component, rounded half-up (DESIGN.md), so the breakdown sums to the tax exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tillpoint.money import Rounding, divide
from tillpoint.tax.types import (
    PPM,
    TaxBreakdownItem,
    TaxCalculation,
    TaxRequest,
)

CATEGORIES = ("standard", "reduced", "exempt")


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    standard: int
    reduced: int
    taxes_shipping: bool = True

    def rate(self, category: str) -> int:
        if category == "reduced":
            return self.reduced
        if category == "exempt":
            return 0
        return self.standard


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str  # "US-CA", "DE", ...
    components: tuple[Component, ...]
    inclusive: bool = False


def _vat(country: str, standard: int, reduced: int) -> Jurisdiction:
    return Jurisdiction(country, (Component(f"{country} VAT", standard, reduced),), inclusive=True)


def _gst(province: str, *extra: Component) -> Jurisdiction:
    return Jurisdiction(f"CA-{province}", (Component("GST", 50_000, 0), *extra))


# US: states where the shop collects (its nexus); elsewhere no US sales tax is charged.
# Groceries (``reduced``) are exempt in these states; shipping is taxed where the state
# taxes separately stated delivery charges.
DEFAULT_TABLE: dict[tuple[str, str], Jurisdiction] = {
    ("US", "CA"): Jurisdiction("US-CA", (Component("CA sales tax", 72_500, 0, False),)),
    ("US", "NY"): Jurisdiction("US-NY", (Component("NY sales tax", 40_000, 0, True),)),
    ("US", "TX"): Jurisdiction("US-TX", (Component("TX sales tax", 62_500, 0, True),)),
    ("US", "WA"): Jurisdiction("US-WA", (Component("WA sales tax", 65_000, 0, True),)),
    ("US", "FL"): Jurisdiction("US-FL", (Component("FL sales tax", 60_000, 0, False),)),
    ("CA", "ON"): Jurisdiction("CA-ON", (Component("HST", 130_000, 0),)),
    ("CA", "NS"): Jurisdiction("CA-NS", (Component("HST", 140_000, 0),)),
    ("CA", "BC"): _gst("BC", Component("BC PST", 70_000, 0, False)),
    ("CA", "QC"): _gst("QC", Component("QST", 99_750, 0)),
    ("CA", ""): _gst(""),
    ("DE", ""): _vat("DE", 190_000, 70_000),
    ("FR", ""): _vat("FR", 200_000, 55_000),
    ("NL", ""): _vat("NL", 210_000, 90_000),
    ("IT", ""): _vat("IT", 220_000, 100_000),
    ("ES", ""): _vat("ES", 210_000, 100_000),
    ("GB", ""): _vat("GB", 200_000, 50_000),
    ("JP", ""): Jurisdiction("JP", (Component("JP consumption tax", 100_000, 80_000),), True),
    ("AU", ""): Jurisdiction("AU", (Component("AU GST", 100_000, 0),), inclusive=True),
}


def jurisdiction_for(
    table: dict[tuple[str, str], Jurisdiction], country: str, region: str
) -> Jurisdiction | None:
    """The most specific entry: (country, region), then the whole country, else none."""
    return table.get((country, region)) or table.get((country, ""))


def _tax_on(amount: int, rate: int, total_rate: int, inclusive: bool) -> int:
    if rate == 0 or amount == 0:
        return 0
    if inclusive:
        # The amount is gross: this component's share of it is amount * r / (1 + R).
        return divide(amount * rate, PPM + total_rate, Rounding.half_up)
    return divide(amount * rate, PPM, Rounding.half_up)


@dataclass
class ManualTaxProvider:
    """Rates from a table (``DEFAULT_TABLE`` unless given); ``inclusive`` overrides the table."""

    table: dict[tuple[str, str], Jurisdiction] = field(default_factory=lambda: DEFAULT_TABLE)
    inclusive: bool | None = None
    name: str = "manual"

    def compute(self, request: TaxRequest) -> TaxCalculation:
        """Pure calculation (the async :meth:`calculate` just wraps it)."""
        where = jurisdiction_for(self.table, request.address.country, request.address.region)
        if where is None:
            return TaxCalculation(
                self.name,
                bool(self.inclusive),
                tuple((line.line_id, 0) for line in request.lines),
                0,
                (),
            )
        inclusive = where.inclusive if self.inclusive is None else self.inclusive
        line_taxes: list[tuple[str, int]] = []
        # (component name, rate) -> [taxable, tax]
        sums: dict[tuple[str, int], list[int]] = {}
        for line in request.lines:
            total_rate = sum(c.rate(line.tax_category) for c in where.components)
            line_tax = 0
            for comp in where.components:
                rate = comp.rate(line.tax_category)
                tax = _tax_on(line.amount, rate, total_rate, inclusive)
                line_tax += tax
                if rate:
                    acc = sums.setdefault((comp.name, rate), [0, 0])
                    acc[0] += line.amount
                    acc[1] += tax
            line_taxes.append((line.line_id, line_tax))
        shipping_tax = 0
        ship_rate_total = sum(c.standard for c in where.components if c.taxes_shipping)
        for comp in where.components:
            if not comp.taxes_shipping or not request.shipping_amount:
                continue
            tax = _tax_on(request.shipping_amount, comp.standard, ship_rate_total, inclusive)
            shipping_tax += tax
            acc = sums.setdefault((comp.name, comp.standard), [0, 0])
            acc[0] += request.shipping_amount
            acc[1] += tax
        breakdown = tuple(
            TaxBreakdownItem(where.code, name, rate, taxable, tax)
            for (name, rate), (taxable, tax) in sums.items()
        )
        return TaxCalculation(self.name, inclusive, tuple(line_taxes), shipping_tax, breakdown)

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        return self.compute(request)

    def applicable_rates(self, country: str, region: str = "") -> list[dict[str, object]]:
        """The seed's getApplicableTaxRates for an address."""
        where = jurisdiction_for(self.table, country, region)
        if where is None:
            return []
        return [
            {
                "jurisdiction": where.code,
                "name": c.name,
                "rates_ppm": {cat: c.rate(cat) for cat in CATEGORIES},
                "taxes_shipping": c.taxes_shipping,
                "inclusive": where.inclusive,
            }
            for c in where.components
        ]
