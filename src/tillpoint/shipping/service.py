"""The seed's ``ShippingCalculationService``: carriers when configured, table rates always.

Carriers (UPS, FedEx) are asked first, all at once, each within the timeout; the options
of those that answer are merged. If every carrier fails, times out or offers nothing, the
table rates answer (the seed's ``fallback: flat_rate``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import SecretStr

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
        """Every answering carrier's options, merged (ids are ``<carrier>:<service>``), else
        the table's (never raises). Carriers are asked at once, each within the timeout."""
        answers = await asyncio.gather(*(self._ask(c, request) for c in self.carriers))
        found = [o for options in answers if isinstance(options, list) for o in options]
        reasons = [a for a in answers if isinstance(a, str)]
        if found:
            answered = [
                c.name
                for c, a in zip(self.carriers, answers, strict=True)
                if a and isinstance(a, list)
            ]
            return ShippingQuote(tuple(found), ",".join(answered))
        return ShippingQuote(
            tuple(self.table_options(request, now)),
            self.table.name,
            "; ".join(reasons) or None,
        )

    async def _ask(
        self, carrier: CarrierProvider, request: ShippingRequest
    ) -> list[ShippingOption] | str:
        """The carrier's options, or why it gave none."""
        try:
            return await asyncio.wait_for(carrier.rates(request), self.timeout)
        except (CarrierError, TimeoutError) as exc:
            log.warning(
                "carrier failed; other carriers or table rates used",
                extra={"carrier": carrier.name, "error": str(exc) or "timeout"},
            )
            return f"{carrier.name}: {str(exc) or 'timeout'}"

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
    """Table rates, plus each carrier ``shipping_provider`` names whose credentials are set
    (``ups``, ``fedex`` or both, merged)."""
    carriers: list[CarrierProvider] = []
    chosen = s.shipping_provider.split(",")
    if "ups" in chosen and s.shipping_ups_token:
        from tillpoint.shipping.ups import UPSRates

        carriers.append(
            UPSRates(
                token=s.shipping_ups_token,
                origin_country=s.shipping_origin_country,
                origin_postal_code=s.shipping_origin_postal_code,
                endpoint=s.shipping_ups_endpoint,
                timeout=s.shipping_timeout_seconds,
                cutoff_hour=s.shipping_cutoff_hour,
                clock_now=clock.now,
            )
        )
    fedex_keys = (s.shipping_fedex_client_id, s.shipping_fedex_client_secret)
    if "fedex" in chosen and all(fedex_keys) and s.shipping_fedex_account_number:
        from tillpoint.shipping.fedex import FedExRates

        carriers.append(
            FedExRates(
                client_id=str(s.shipping_fedex_client_id),
                client_secret=_secret(s.shipping_fedex_client_secret),
                account_number=s.shipping_fedex_account_number,
                origin_country=s.shipping_origin_country,
                origin_postal_code=s.shipping_origin_postal_code,
                clock_now=clock.now,
                endpoint=s.shipping_fedex_endpoint,
                timeout=s.shipping_timeout_seconds,
                cutoff_hour=s.shipping_cutoff_hour,
            )
        )
    return ShippingCalculationService(
        table=TableRates(currency=s.default_currency),
        carriers=tuple(carriers),
        timeout=s.shipping_timeout_seconds,
        cutoff_hour=s.shipping_cutoff_hour,
    )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
