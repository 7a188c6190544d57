"""FedEx Rates and Transit Times API adapter (Rate API v1, ``POST /rate/v1/rates/quotes``).

Authorization is OAuth 2.0 client credentials (``POST /oauth/token``, form-encoded); the
token is reused until shortly before its ``expires_in`` (about an hour) and fetched again
once if the Rate API answers 401. The seed's ground, express and overnight services are
FEDEX_GROUND, FEDEX_2_DAY (else FEDEX_EXPRESS_SAVER) and STANDARD_OVERNIGHT; other
services FedEx offers are left out. Money is read as decimals (never floats) and becomes
minor units; the shop pays the ``ACCOUNT`` rate when FedEx gives one in the shop's
currency, else the ``LIST`` rate.

Any transport error, non-2xx answer (FedEx's ``{"transactionId", "errors": [{"code",
"message"}]}``), 429 pause or unreadable body raises :class:`CarrierError`; the shipping
service then falls back to table rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from tillpoint.money import parse_decimal
from tillpoint.provider_http import (
    ClientCredentials,
    Now,
    ProviderHTTPError,
    RateLimitPause,
    answer_json,
)
from tillpoint.shipping.delivery import estimate_delivery
from tillpoint.shipping.types import CarrierError, ShippingOption, ShippingRequest

# FedEx serviceType -> (our name, the seed's service type, business days when FedEx
# gives no transit time). Earlier entries win for the same seed service.
SERVICES: dict[str, tuple[str, str, int]] = {
    "FEDEX_GROUND": ("FedEx Ground", "ground", 5),
    "FEDEX_2_DAY": ("FedEx 2Day", "express", 2),
    "FEDEX_EXPRESS_SAVER": ("FedEx Express Saver", "express", 3),
    "STANDARD_OVERNIGHT": ("FedEx Standard Overnight", "overnight", 1),
}
_TRANSIT_WORDS = {
    w: n
    for n, w in enumerate(
        ("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN"), 1
    )
}
_RATE_PREFERENCE = ("ACCOUNT", "PREFERRED_ACCOUNT_SHIPMENT", "LIST", "PREFERRED_LIST_SHIPMENT")


@dataclass
class FedExRates:
    """Rates from FedEx for one package shipped from ``origin`` by ``account_number``."""

    client_id: str
    client_secret: str = field(repr=False)
    account_number: str
    origin_country: str
    origin_postal_code: str
    clock_now: Now
    endpoint: str = "https://apis.fedex.com"
    timeout: float = 3.0
    cutoff_hour: int = 14
    transport: httpx.AsyncBaseTransport | None = None
    name: str = "fedex"
    credentials: ClientCredentials = field(init=False)
    pause: RateLimitPause = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = ClientCredentials(
            f"{self.endpoint}/oauth/token", self.client_id, self.client_secret, self.clock_now
        )
        self.pause = RateLimitPause(self.clock_now)

    def _body(self, r: ShippingRequest) -> dict[str, Any]:
        kg = Decimal(max(r.weight_grams, 100)) / 1000
        return {
            "accountNumber": {"value": self.account_number},
            "rateRequestControlParameters": {"returnTransitTimes": True},
            "requestedShipment": {
                "shipper": {
                    "address": {
                        "postalCode": self.origin_postal_code,
                        "countryCode": self.origin_country,
                    }
                },
                "recipient": {"address": self._destination(r)},
                "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
                "packagingType": "YOUR_PACKAGING",
                "rateRequestType": ["ACCOUNT", "LIST"],
                "preferredCurrency": r.currency,
                "requestedPackageLineItems": [
                    {"weight": {"units": "KG", "value": float(kg.quantize(Decimal("0.1")))}}
                ],
            },
        }

    @staticmethod
    def _destination(r: ShippingRequest) -> dict[str, str]:
        # Only where the country has regions: FedEx refuses an empty state code.
        region = {"stateOrProvinceCode": r.region} if r.region else {}
        return {"postalCode": r.postal_code, **region, "countryCode": r.country}

    async def rates(self, request: ShippingRequest) -> list[ShippingOption]:
        try:
            self.pause.check()
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as c:
                resp = await self._quote(c, request)
            data: Any = answer_json(resp, "FedEx rate")
            options = self._options(request, data["output"]["rateReplyDetails"])
        except ProviderHTTPError as exc:
            raise CarrierError(f"FedEx: {exc}") from exc
        except (httpx.HTTPError, KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise CarrierError(f"FedEx: {exc!r}") from exc
        if not options:
            raise CarrierError(f"FedEx: no ground, express or overnight rate in {request.currency}")
        return options

    async def _quote(self, c: httpx.AsyncClient, request: ShippingRequest) -> httpx.Response:
        """The quote answer; a 401 drops the cached token and asks once more."""
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {await self.credentials.token(c)}",
                "X-locale": "en_US",
            }
            resp = await c.post(
                f"{self.endpoint}/rate/v1/rates/quotes", json=self._body(request), headers=headers
            )
            self.pause.note(resp)
            if resp.status_code != 401 or attempt == 2:
                return resp
            self.credentials.forget()
        raise AssertionError("unreachable")

    def _options(self, request: ShippingRequest, details: list[Any]) -> list[ShippingOption]:
        """One option per seed service, the first of :data:`SERVICES` that FedEx quoted."""
        quoted = {str(item["serviceType"]): item for item in details}
        chosen: dict[str, ShippingOption] = {}
        for service in SERVICES:
            option = self._option(request, service, quoted[service]) if service in quoted else None
            if option is not None and option.service_type not in chosen:
                chosen[option.service_type] = option
        return sorted(chosen.values(), key=lambda o: (o.estimated_days, o.cost))

    def _option(
        self, request: ShippingRequest, service: str, item: dict[str, Any]
    ) -> ShippingOption | None:
        name, service_type, default_days = SERVICES[service]
        charge = _charge(item["ratedShipmentDetails"], request.currency)
        if charge is None:
            return None
        cost = parse_decimal(str(charge), request.currency)
        if cost < 0:
            raise ValueError(f"negative charge {charge}")
        transit = str(item.get("operationalDetail", {}).get("transitTime", ""))
        days = _TRANSIT_WORDS.get(transit.removesuffix("_DAYS").removesuffix("_DAY"), default_days)
        now: datetime = self.clock_now()
        return ShippingOption(
            id=f"fedex:{service}",
            name=name,
            description=f"{name}, {days} business day(s) in transit",
            cost=cost,
            currency=request.currency,
            estimated_days=days,
            carrier="FedEx",
            service_type=service_type,
            tracking_available=True,
            estimate=estimate_delivery(now, days, days, self.cutoff_hour),
            source=self.name,
        )


def _charge(rated: list[Any], currency: str) -> Decimal | None:
    """``totalNetCharge`` of the preferred rate type quoted in ``currency``."""
    by_type = {
        str(d.get("rateType")): d["totalNetCharge"] for d in rated if d.get("currency") == currency
    }
    for rate_type in _RATE_PREFERENCE:
        if rate_type in by_type:
            return Decimal(str(by_type[rate_type]))
    return None
