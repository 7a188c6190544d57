"""The seed's ``ShippingCalculationService``: carriers when configured, table rates always.

Carriers are asked first (each within the timeout); if every carrier fails, times
out or offers nothing, the table rates answer (the seed's ``fallback: flat_rate``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from tillpoint.clock import Clock
from tillpoint.config import Settings
from tillpoint.shipping.delivery import estimate_delivery
from tillpoint.shipping.table import TableRates
from tillpoint.shipping.types import (
    CarrierError,
    CarrierProvider,
    DeliveryEstimate,
    ShippingOption,
    ShippingRequest,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShippingQuote:
    options: tuple[ShippingOption, ...]
    source: str  # "table" or a carrier's name
    fallback_reason: str | None = None


@dataclass
class ShippingCalculationService:
    table: TableRates = field(default_factory=TableRates)
    carriers: tuple[CarrierProvider, ...] = ()
    timeout: float = 3.0
    cutoff_hour: int = 14

    def table_options(self, request: ShippingRequest, now: datetime) -> list[ShippingOption]:
        return self.table.options(request, now, self.cutoff_hour)

    async def get_shipping_options(self, request: ShippingRequest, now: datetime) -> ShippingQuote:
        """Carrier options if any carrier answers, else the table's (never raises)."""
        reasons: list[str] = []
        found: list[ShippingOption] = []
        for carrier in self.carriers:
            try:
                found.extend(await asyncio.wait_for(carrier.rates(request), self.timeout))
            except (CarrierError, TimeoutError) as exc:
                reasons.append(f"{carrier.name}: {exc or 'timeout'}")
                log.warning("carrier failed; table rates used", extra={"carrier": carrier.name})
        if found:
            return ShippingQuote(tuple(found), ",".join(c.name for c in self.carriers))
        return ShippingQuote(
            tuple(self.table_options(request, now)),
            self.table.name,
            "; ".join(reasons) or None,
        )

    def calculate_shipping_cost(
        self, request: ShippingRequest, selected: ShippingOption, now: datetime
    ) -> int:
        """Today's cost of a chosen option: table methods are re-priced from the rules (the
        cart may have changed), carrier methods keep the carrier's quote."""
        if selected.source != self.table.name:
            return selected.cost
        for option in self.table_options(request, now):
            if option.id == selected.id:
                return option.cost
        raise LookupError(selected.id)

    def estimate_delivery_date(self, option: ShippingOption, now: datetime) -> DeliveryEstimate:
        """The seed's estimateDeliveryDate for an offered option."""
        return option.estimate or estimate_delivery(
            now, option.estimated_days, option.estimated_days, self.cutoff_hour
        )


def build_shipping_service(s: Settings, clock: Clock) -> ShippingCalculationService:
    """Table rates, plus UPS when ``shipping_provider=ups`` and a token is set."""
    carriers: tuple[CarrierProvider, ...] = ()
    if s.shipping_provider == "ups" and s.shipping_ups_token:
        from tillpoint.shipping.ups import UPSRates

        carriers = (
            UPSRates(
                token=s.shipping_ups_token,
                origin_country=s.shipping_origin_country,
                origin_postal_code=s.shipping_origin_postal_code,
                endpoint=s.shipping_ups_endpoint,
                timeout=s.shipping_timeout_seconds,
                cutoff_hour=s.shipping_cutoff_hour,
                clock_now=clock.now,
            ),
        )
    return ShippingCalculationService(
        table=TableRates(currency=s.default_currency),
        carriers=carriers,
        timeout=s.shipping_timeout_seconds,
        cutoff_hour=s.shipping_cutoff_hour,
    )
