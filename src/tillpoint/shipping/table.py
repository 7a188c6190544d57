"""Table rates, the default and the fallback of every carrier (pure, no I/O).

Zones by country (and region, for the US's non-contiguous states); each zone offers
methods priced by weight bands or by order-value bands, with an optional
free-shipping threshold. Amounts are minor units of the table's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tillpoint.shipping.delivery import estimate_delivery
from tillpoint.shipping.types import ShippingOption, ShippingRequest

Band = tuple[int | None, int]  # (upper bound, exclusive; None = no bound), price


@dataclass(frozen=True, slots=True)
class Method:
    code: str
    name: str
    carrier: str
    service_type: str
    min_days: int
    max_days: int
    bands: tuple[Band, ...]
    basis: str = "weight"  # "weight" (grams) or "subtotal" (minor units)
    per_kg_over: int = 0  # beyond the last bounded weight band, per started kilogram
    free_over: int | None = None  # subtotal at or above which the method is free
    tracking: bool = True

    def price(self, weight_grams: int, subtotal: int) -> int:
        if self.free_over is not None and subtotal >= self.free_over:
            return 0
        measure = weight_grams if self.basis == "weight" else subtotal
        for upper, price in self.bands:
            if upper is None or measure < upper:
                return price
        upper_last, price_last = self.bands[-1]
        assert upper_last is not None
        extra_kg = -(-(weight_grams - upper_last) // 1000)  # ceil
        return price_last + max(extra_kg, 0) * self.per_kg_over


@dataclass(frozen=True, slots=True)
class Zone:
    code: str
    countries: frozenset[str]
    methods: tuple[Method, ...]
    regions: frozenset[str] = frozenset()  # if set: only these regions of the countries
    excluded_regions: frozenset[str] = frozenset()

    def covers(self, country: str, region: str) -> bool:
        if country not in self.countries and "*" not in self.countries:
            return False
        if self.regions and region not in self.regions:
            return False
        return region not in self.excluded_regions


_US_REMOTE = frozenset({"AK", "HI", "PR", "GU", "VI", "AS", "MP", "AA", "AE", "AP"})
_EU = frozenset(
    {"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "LU", "NL", "PL", "PT", "SE"}
)

DEFAULT_ZONES: tuple[Zone, ...] = (
    Zone(
        "us",
        frozenset({"US"}),
        (
            Method(
                "ground",
                "Ground",
                "UPS",
                "ground",
                3,
                5,
                ((1000, 599), (5000, 999), (20000, 1999)),
                per_kg_over=150,
                free_over=7500,
            ),
            Method(
                "two_day",
                "2-Day",
                "UPS",
                "2_day",
                2,
                2,
                ((1000, 1499), (5000, 2499), (20000, 4499)),
                per_kg_over=300,
            ),
            Method(
                "next_day",
                "Next Day",
                "UPS",
                "next_day",
                1,
                1,
                ((1000, 2999), (5000, 4499), (20000, 7999)),
                per_kg_over=500,
            ),
        ),
        excluded_regions=_US_REMOTE,
    ),
    Zone(
        "us_remote",
        frozenset({"US"}),
        (
            Method(
                "ground",
                "Ground",
                "USPS",
                "ground",
                5,
                9,
                ((1000, 1299), (5000, 2499), (20000, 4999)),
                per_kg_over=400,
            ),
            Method(
                "two_day",
                "Priority",
                "USPS",
                "2_day",
                2,
                3,
                ((1000, 2499), (5000, 3999), (20000, 7999)),
                per_kg_over=600,
            ),
        ),
        regions=_US_REMOTE,
    ),
    Zone(
        "ca",
        frozenset({"CA"}),
        (
            Method(
                "standard",
                "Standard",
                "Canada Post",
                "ground",
                4,
                8,
                ((5000, 1499), (15000, 1999), (None, 2499)),
                basis="subtotal",
                free_over=15000,
            ),
            Method(
                "express",
                "Express",
                "FedEx",
                "express",
                2,
                3,
                ((1000, 2999), (5000, 4499), (20000, 7999)),
                per_kg_over=700,
            ),
        ),
    ),
    Zone(
        "eu_gb",
        _EU | {"GB"},
        (
            Method(
                "standard",
                "International Standard",
                "DHL",
                "ground",
                6,
                10,
                ((5000, 1999), (15000, 2999), (None, 3999)),
                basis="subtotal",
            ),
            Method(
                "express",
                "International Express",
                "DHL Express",
                "express",
                3,
                4,
                ((1000, 3999), (5000, 5999), (20000, 9999)),
                per_kg_over=900,
            ),
        ),
    ),
    Zone(
        "world",
        frozenset({"*"}),
        (
            Method(
                "standard",
                "International Standard",
                "USPS",
                "ground",
                7,
                14,
                ((5000, 2499), (15000, 3499), (None, 4499)),
                basis="subtotal",
            ),
            Method(
                "express",
                "International Express",
                "FedEx",
                "overnight",
                3,
                5,
                ((1000, 4999), (5000, 7499), (20000, 12999)),
                per_kg_over=1200,
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class TableRates:
    """The table-rate provider: the first zone that covers the address prices it."""

    zones: tuple[Zone, ...] = DEFAULT_ZONES
    currency: str = "USD"
    name: str = "table"

    def zone_for(self, country: str, region: str) -> Zone | None:
        return next((z for z in self.zones if z.covers(country, region)), None)

    def options(
        self, request: ShippingRequest, now: datetime, cutoff_hour: int
    ) -> list[ShippingOption]:
        """Every method of the address's zone, priced and with a delivery window."""
        if request.currency != self.currency:
            return []
        zone = self.zone_for(request.country, request.region)
        if zone is None:
            return []
        return [
            ShippingOption(
                id=f"{zone.code}:{m.code}",
                name=m.name,
                description=(
                    f"{m.carrier} {m.name}, {m.min_days}-{m.max_days} business days"
                    if m.min_days != m.max_days
                    else f"{m.carrier} {m.name}, {m.min_days} business day(s)"
                ),
                cost=m.price(request.weight_grams, request.subtotal),
                currency=self.currency,
                estimated_days=m.max_days,
                carrier=m.carrier,
                service_type=m.service_type,
                tracking_available=m.tracking,
                estimate=estimate_delivery(now, m.min_days, m.max_days, cutoff_hour),
                source=self.name,
            )
            for m in zone.methods
        ]
