"""UPS Rating API adapter (``POST /api/rating/v2403/Shop``): live rates for a parcel.

Any transport error, non-2xx answer or unreadable body raises :class:`CarrierError`;
the shipping service then falls back to table rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tillpoint.money import parse_decimal
from tillpoint.shipping.delivery import estimate_delivery
from tillpoint.shipping.types import CarrierError, ShippingOption, ShippingRequest

SERVICES: dict[str, tuple[str, str]] = {
    "03": ("UPS Ground", "ground"),
    "02": ("UPS 2nd Day Air", "2_day"),
    "01": ("UPS Next Day Air", "next_day"),
    "12": ("UPS 3 Day Select", "3_day"),
    "11": ("UPS Standard", "ground"),
    "07": ("UPS Worldwide Express", "express"),
}


@dataclass
class UPSRates:
    """Shop rates from UPS for a single package shipped from ``origin``."""

    token: str
    origin_country: str
    origin_postal_code: str
    endpoint: str = "https://onlinetools.ups.com"
    timeout: float = 3.0
    cutoff_hour: int = 14
    transport: httpx.AsyncBaseTransport | None = None
    clock_now: Any = None  # a callable returning the current datetime (tests, runtime clock)
    name: str = "ups"

    def _body(self, r: ShippingRequest) -> dict[str, Any]:
        kg = max(r.weight_grams, 100) / 1000
        return {
            "RateRequest": {
                "Request": {"RequestOption": "Shop"},
                "Shipment": {
                    "Shipper": {
                        "Address": {
                            "CountryCode": self.origin_country,
                            "PostalCode": self.origin_postal_code,
                        }
                    },
                    "ShipTo": {
                        "Address": {
                            "CountryCode": r.country,
                            "StateProvinceCode": r.region,
                            "PostalCode": r.postal_code,
                        }
                    },
                    "Package": {
                        "PackagingType": {"Code": "02"},
                        "PackageWeight": {
                            "UnitOfMeasurement": {"Code": "KGS"},
                            "Weight": f"{kg:.1f}",
                        },
                    },
                },
            }
        }

    async def rates(self, request: ShippingRequest) -> list[ShippingOption]:
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as c:
                resp = await c.post(
                    f"{self.endpoint}/api/rating/v2403/Shop",
                    json=self._body(request),
                    headers={"Authorization": f"Bearer {self.token}", "transId": "tillpoint"},
                )
            resp.raise_for_status()
            rated = resp.json()["RateResponse"]["RatedShipment"]
            if isinstance(rated, dict):  # UPS sends an object when there is one
                rated = [rated]
            return [self._option(request, item) for item in rated]
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise CarrierError(f"UPS: {exc}") from exc

    def _option(self, request: ShippingRequest, item: dict[str, Any]) -> ShippingOption:
        code = str(item["Service"]["Code"])
        name, service_type = SERVICES.get(code, (f"UPS service {code}", "other"))
        charges = item["TotalCharges"]
        if charges["CurrencyCode"] != request.currency:
            raise ValueError(f"UPS quoted {charges['CurrencyCode']}, not {request.currency}")
        days = int(item.get("GuaranteedDelivery", {}).get("BusinessDaysInTransit", 5))
        now: datetime | None = self.clock_now() if self.clock_now else None
        return ShippingOption(
            id=f"ups:{code}",
            name=name,
            description=f"{name}, {days} business day(s) in transit",
            cost=parse_decimal(str(charges["MonetaryValue"]), request.currency),
            currency=request.currency,
            estimated_days=days,
            carrier="UPS",
            service_type=service_type,
            tracking_available=True,
            estimate=estimate_delivery(now, days, days, self.cutoff_hour) if now else None,
            source=self.name,
        )
