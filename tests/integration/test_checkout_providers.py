"""Third parties we cannot run, tested at the HTTP boundary: Google Address Validation and
UPS through ``httpx.MockTransport``, Stripe Tax through the real ``stripe`` SDK against a
recorded-answer server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stripe
from aiohttp import web

from tillpoint.addresses.schemas import Address
from tillpoint.addresses.service import AddressValidationService, GoogleAddressValidation
from tillpoint.bootstrap import build_runtime
from tillpoint.errors import ServiceUnavailable
from tillpoint.runtime import Runtime
from tillpoint.shipping.service import ShippingCalculationService
from tillpoint.shipping.types import ShippingRequest
from tillpoint.shipping.ups import UPSRates
from tillpoint.tax.manual import ManualTaxProvider
from tillpoint.tax.service import TaxCalculationService
from tillpoint.tax.stripe_tax import StripeTaxProvider
from tillpoint.tax.types import TaxableLine, TaxAddress, TaxCalculation, TaxRequest

NOW = datetime(2026, 11, 26, 10, tzinfo=UTC)
ADDRESS = Address(
    first_name="Ada",
    last_name="Lovelace",
    street1="1600 amphitheatre pkwy",
    city="Mountain View",
    state="CA",
    zip_code="94043",
    country="US",
)

# --- Google Address Validation -------------------------------------------------------

GOOGLE_OK = {
    "result": {
        "verdict": {
            "inputGranularity": "PREMISE",
            "validationGranularity": "PREMISE",
            "addressComplete": True,
            "hasInferredComponents": True,
        },
        "address": {
            "formattedAddress": "1600 Amphitheatre Parkway, Mountain View, CA 94043-1351, USA",
            "postalAddress": {
                "regionCode": "US",
                "postalCode": "94043-1351",
                "administrativeArea": "CA",
                "locality": "Mountain View",
                "addressLines": ["1600 Amphitheatre Parkway"],
            },
        },
    }
}


def google(handler: Callable[[httpx.Request], httpx.Response]) -> GoogleAddressValidation:
    return GoogleAddressValidation(api_key="k-test", transport=httpx.MockTransport(handler))


async def test_google_standardises_and_scores_an_address() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=GOOGLE_OK)

    svc = AddressValidationService(google(handler))
    result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "google"
    assert result.standardized_address is not None
    assert result.standardized_address.street1 == "1600 Amphitheatre Parkway"
    assert result.standardized_address.zip_code == "94043-1351"
    assert result.suggestions == (result.standardized_address,)
    assert result.confidence == 0.95 and result.deliverability_score == 0.95
    sent = json.loads(seen[0].content)
    assert seen[0].url.params["key"] == "k-test"
    assert sent["address"]["regionCode"] == "US" and sent["address"]["postalCode"] == "94043"


async def test_google_incomplete_address_is_refused_with_a_field() -> None:
    answer = json.loads(json.dumps(GOOGLE_OK))
    answer["result"]["verdict"] = {"addressComplete": False, "validationGranularity": "ROUTE"}
    svc = AddressValidationService(google(lambda r: httpx.Response(200, json=answer)))
    result = await svc.validate_address(ADDRESS)
    assert not result.is_valid
    assert [(e.path, e.code) for e in result.errors] == [
        (("address", "street1"), "address_undeliverable")
    ]


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: httpx.Response(500, json={"error": {"code": 500}}),
        lambda r: httpx.Response(200, text="<html>"),
        lambda r: httpx.Response(200, json={"result": {}}),
    ],
)
async def test_google_failures_fall_back_to_the_built_in_rules(failure: Any) -> None:
    svc = AddressValidationService(google(failure))
    result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules" and len(svc.fallbacks) == 1
    assert result.standardized_address is not None
    assert result.standardized_address.street1 == ADDRESS.street1


async def test_google_timeout_falls_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    result = await AddressValidationService(google(handler)).validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules"


async def test_rules_still_refuse_before_the_provider_is_asked() -> None:
    calls: list[httpx.Request] = []
    svc = AddressValidationService(
        google(lambda r: calls.append(r) or httpx.Response(200, json=GOOGLE_OK))
    )  # type: ignore[func-returns-value]
    result = await svc.validate_address(ADDRESS.model_copy(update={"zip_code": "123"}))
    assert not result.is_valid and calls == []


# --- UPS -----------------------------------------------------------------------------

UPS_OK = {
    "RateResponse": {
        "Response": {"ResponseStatus": {"Code": "1", "Description": "Success"}},
        "RatedShipment": [
            {
                "Service": {"Code": "03", "Description": ""},
                "TotalCharges": {"CurrencyCode": "USD", "MonetaryValue": "12.34"},
                "GuaranteedDelivery": {"BusinessDaysInTransit": "3"},
            },
            {
                "Service": {"Code": "01", "Description": ""},
                "TotalCharges": {"CurrencyCode": "USD", "MonetaryValue": "45.60"},
                "GuaranteedDelivery": {"BusinessDaysInTransit": "1"},
            },
        ],
    }
}
PARCEL = ShippingRequest("USD", "US", "CA", "94043", 1500, 4000)


def ups(handler: Any, **kw: Any) -> UPSRates:
    return UPSRates(
        token="t-test",
        origin_country="US",
        origin_postal_code="10001",
        transport=httpx.MockTransport(handler),
        clock_now=lambda: NOW,
        **kw,
    )


async def test_ups_rates_are_read_exactly() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=UPS_OK)

    quote = await ShippingCalculationService(carriers=(ups(handler),)).get_shipping_options(
        PARCEL, NOW
    )
    assert quote.source == "ups" and quote.fallback_reason is None
    assert [(o.id, o.cost, o.service_type, o.estimated_days) for o in quote.options] == [
        ("ups:03", 1234, "ground", 3),
        ("ups:01", 4560, "next_day", 1),
    ]
    assert seen[0].url.path == "/api/rating/v2403/Shop"
    assert seen[0].headers["authorization"] == "Bearer t-test"
    body = json.loads(seen[0].content)["RateRequest"]["Shipment"]
    assert body["ShipTo"]["Address"]["PostalCode"] == "94043"
    assert body["Package"]["PackageWeight"]["Weight"] == "1.5"


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: httpx.Response(503, text="busy"),
        lambda r: httpx.Response(200, json={"RateResponse": {}}),
        lambda r: httpx.Response(
            200,
            json={
                "RateResponse": {
                    "RatedShipment": {
                        "Service": {"Code": "03"},
                        "TotalCharges": {"CurrencyCode": "EUR", "MonetaryValue": "1"},
                    }
                }
            },
        ),
    ],
)
async def test_ups_errors_fall_back_to_table_rates(failure: Any) -> None:
    quote = await ShippingCalculationService(carriers=(ups(failure),)).get_shipping_options(
        PARCEL, NOW
    )
    assert quote.source == "table" and quote.fallback_reason and "ups" in quote.fallback_reason
    assert {o.id for o in quote.options} == {"us:ground", "us:two_day", "us:next_day"}


async def test_ups_timeout_falls_back_to_table_rates() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200, json=UPS_OK)

    svc = ShippingCalculationService(carriers=(ups(slow),), timeout=0.05)
    quote = await svc.get_shipping_options(PARCEL, NOW)
    assert quote.source == "table" and quote.fallback_reason is not None


# --- Stripe Tax, through the SDK, against a recorded-answer server -------------------


def stripe_calculation(
    amounts: dict[str, int], taxes: dict[str, int], shipping: tuple[int, int]
) -> dict[str, Any]:
    tax_total = sum(taxes.values()) + shipping[1]
    return {
        "id": "taxcalc_1OjFMvBJVoN8JWbmXdaNYvw2",
        "object": "tax.calculation",
        "amount_total": sum(amounts.values()) + shipping[0] + tax_total,
        "currency": "usd",
        "customer_details": {
            "address": {"country": "US", "state": "NY"},
            "address_source": "shipping",
        },
        "line_items": {
            "object": "list",
            "data": [
                {
                    "id": f"tax_li_{i}",
                    "object": "tax.calculation_line_item",
                    "amount": amounts[ref],
                    "amount_tax": taxes[ref],
                    "reference": ref,
                    "tax_behavior": "exclusive",
                    "quantity": 1,
                }
                for i, ref in enumerate(amounts)
            ],
            "has_more": False,
            "url": "/v1/tax/calculations/taxcalc_1OjFMvBJVoN8JWbmXdaNYvw2/line_items",
        },
        "shipping_cost": {
            "amount": shipping[0],
            "amount_tax": shipping[1],
            "tax_behavior": "exclusive",
        },
        "tax_amount_exclusive": tax_total,
        "tax_amount_inclusive": 0,
        "tax_breakdown": [
            {
                "amount": tax_total,
                "inclusive": False,
                "taxability_reason": "standard_rated",
                "taxable_amount": sum(amounts.values()) + shipping[0],
                "tax_rate_details": {
                    "country": "US",
                    "state": "NY",
                    "percentage_decimal": "8.875",
                    "tax_type": "sales_tax",
                },
            }
        ],
        "livemode": False,
    }


@dataclass
class Recorded:
    answers: list[tuple[int, dict[str, Any]]]
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def stripe_server() -> AsyncIterator[tuple[str, Recorded]]:
    recorded = Recorded([])

    async def calculations(request: web.Request) -> web.Response:
        form = await request.post()
        recorded.requests.append({k: str(v) for k, v in form.items()})
        status, body = recorded.answers.pop(0)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/v1/tax/calculations", calculations)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", recorded
    await runner.cleanup()


def stripe_provider(base: str) -> StripeTaxProvider:
    client = stripe.StripeClient(
        "sk_test_123",
        base_addresses={"api": base},
        http_client=stripe.HTTPXClient(),
        max_network_retries=0,
    )
    return StripeTaxProvider(client)


REQUEST = TaxRequest(
    "USD",
    TaxAddress("US", "NY", "10118", "New York"),
    (TaxableLine("item_a", "prod_a", 2, 4000), TaxableLine("item_b", "prod_b", 1, 1000, "exempt")),
    599,
)


async def test_stripe_tax_request_and_answer(
    stripe_server: tuple[str, Recorded], rt: Runtime
) -> None:
    base, rec = stripe_server
    rec.answers.append(
        (
            200,
            stripe_calculation(
                {"item_a": 4000, "item_b": 1000}, {"item_a": 355, "item_b": 0}, (599, 53)
            ),
        )
    )
    svc = TaxCalculationService(stripe_provider(base))
    result = await svc.calculate_tax(rt, REQUEST)
    assert result.provider == "stripe_tax" and not result.inclusive
    assert result.line_taxes == (("item_a", 355), ("item_b", 0)) and result.shipping_tax == 53
    assert result.breakdown[0].rate_ppm == 88_750 and result.breakdown[0].jurisdiction == "US-NY"
    sent = rec.requests[0]
    assert sent["currency"] == "usd"
    assert sent["line_items[0][amount]"] == "4000" and sent["line_items[0][reference]"] == "item_a"
    assert sent["line_items[1][tax_code]"] == "txcd_00000000"
    assert sent["customer_details[address][state]"] == "NY"
    assert sent["shipping_cost[amount]"] == "599" and sent["expand[0]"] == "line_items"
    # cached for the TTL: a second identical request does not reach Stripe
    assert await svc.calculate_tax(rt, REQUEST) == result and len(rec.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        (500, {"error": {"type": "api_error", "message": "boom"}}),
        (400, {"error": {"type": "invalid_request_error", "message": "customer_details invalid"}}),
        (200, {"object": "tax.calculation", "id": "taxcalc_x"}),
        (
            200,
            {
                **stripe_calculation(
                    {"item_a": 4000, "item_b": 1000}, {"item_a": 355, "item_b": 0}, (599, 53)
                ),
                "tax_amount_exclusive": 999,
            },
        ),
    ],
)
async def test_stripe_tax_failure_refuses_to_price(
    stripe_server: tuple[str, Recorded], rt: Runtime, answer: tuple[int, dict[str, Any]]
) -> None:
    base, rec = stripe_server
    rec.answers.append(answer)
    svc = TaxCalculationService(stripe_provider(base))
    with pytest.raises(ServiceUnavailable) as info:
        await svc.calculate_tax(rt, REQUEST)
    assert info.value.code == "tax_unavailable" and info.value.status == 503


# --- the tax cache -----------------------------------------------------------------


class CountingTax:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0
        self.inner = ManualTaxProvider()

    async def calculate(self, request: TaxRequest) -> TaxCalculation:
        self.calls += 1
        return self.inner.compute(request)


async def test_tax_results_are_cached_for_an_hour_in_memory(rt: Runtime, clock: Any) -> None:
    provider = CountingTax()
    svc = TaxCalculationService(provider)
    first = await svc.calculate_tax(rt, REQUEST)
    clock.advance(minutes=59)
    assert await svc.calculate_tax(rt, REQUEST) == first and provider.calls == 1
    other = TaxRequest(
        REQUEST.currency, TaxAddress("US", "TX"), REQUEST.lines, REQUEST.shipping_amount
    )
    await svc.calculate_tax(rt, other)
    assert provider.calls == 2
    clock.advance(minutes=2)
    await svc.calculate_tax(rt, REQUEST)
    assert provider.calls == 3


@pytest.mark.redis
async def test_tax_results_are_cached_in_redis(redis_url: str, settings: Any, clock: Any) -> None:
    from redis.asyncio import Redis

    rt = build_runtime(settings.model_copy(update={"redis_url": redis_url}), clock=clock)
    try:
        provider = CountingTax()
        first = await TaxCalculationService(provider).calculate_tax(rt, REQUEST)
        # a second instance (another app server) reads the same cache
        again = await TaxCalculationService(provider).calculate_tax(rt, REQUEST)
        assert again == first and provider.calls == 1
        client = Redis.from_url(redis_url)
        ttl = await client.ttl("tax:" + REQUEST.cache_key())
        await client.aclose()
        assert 3590 <= ttl <= 3600
    finally:
        await rt.close()
