"""FedEx rates at the HTTP boundary, against a loopback server speaking FedEx's API.

API versions followed: FedEx API Authorization (``POST /oauth/token``, OAuth 2.0 client
credentials, form-encoded, ``expires_in`` 3599 s) and the Rates and Transit Times API
**v1** (``POST /rate/v1/rates/quotes``; ``output.rateReplyDetails[].ratedShipmentDetails[]
.totalNetCharge`` per ``rateType``; errors ``{"transactionId", "errors": [{"code",
"message"}]}`` with 400 INVALID.INPUT.EXCEPTION, 401 NOT.AUTHORIZED.ERROR, 403
FORBIDDEN.ERROR, 404 NOT.FOUND.ERROR, 500 INTERNAL.SERVER.ERROR, 503
SERVICE.UNAVAILABLE.ERROR; 429 "Too many requests" when throttled), as published on
developer.fedex.com. Every failure is observed falling back to table rates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.carrier_servers import (
    FakeFedEx,
    FakeUPS,
    fedex_error,
    fedex_rated,
    fedex_reply_detail,
    serve,
)
from tests.support import MovableClock
from tillpoint.config import Settings
from tillpoint.shipping.fedex import FedExRates
from tillpoint.shipping.service import ShippingCalculationService, build_shipping_service
from tillpoint.shipping.types import ShippingRequest
from tillpoint.shipping.ups import UPSRates

NOW = datetime(2026, 11, 26, 10, tzinfo=UTC)  # a Thursday, before the cut-off
PARCEL = ShippingRequest("USD", "US", "CA", "94043", 1500, 4000)
QUOTES = "/rate/v1/rates/quotes"
TABLE_IDS = {"us:ground", "us:two_day", "us:next_day"}


def fedex_rates() -> list[dict[str, Any]]:
    """A quote as FedEx sends it: several rate types per service, numbers as JSON numbers,
    services we do not offer, and two that map to the seed's ``express``."""
    return [
        fedex_reply_detail(
            "FEDEX_GROUND",
            [fedex_rated("ACCOUNT", Decimal("4.35")), fedex_rated("LIST", Decimal("6.10"))],
            "THREE_DAYS",
        ),
        fedex_reply_detail(
            "FEDEX_EXPRESS_SAVER", [fedex_rated("ACCOUNT", Decimal("19.99"))], "THREE_DAYS"
        ),
        fedex_reply_detail("FEDEX_2_DAY", [fedex_rated("LIST", 24)], "TWO_DAYS"),
        fedex_reply_detail(
            "STANDARD_OVERNIGHT",
            [fedex_rated("ACCOUNT", "41.03", "CAD"), fedex_rated("ACCOUNT", Decimal("39.27"))],
        ),
        fedex_reply_detail("PRIORITY_OVERNIGHT", [fedex_rated("ACCOUNT", Decimal("55.00"))]),
    ]


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(NOW)


@pytest.fixture
async def fedex(clock: MovableClock) -> AsyncIterator[tuple[FakeFedEx, FedExRates]]:
    fake = FakeFedEx(rates=fedex_rates())
    async with serve(fedex=fake) as base:
        yield fake, carrier(base, clock)


def carrier(base: str, clock: MovableClock, **kw: Any) -> FedExRates:
    return FedExRates(
        client_id="client-id",
        client_secret="client-secret",
        account_number="740561073",
        origin_country="US",
        origin_postal_code="10001",
        clock_now=clock.now,
        endpoint=base,
        **kw,
    )


async def quote_with(*carriers: Any, wait: float = 3.0) -> Any:
    svc = ShippingCalculationService(carriers=carriers, timeout=wait)
    return await svc.get_shipping_options(PARCEL, NOW)


async def test_fedex_rates_are_read_exactly(fedex: tuple[FakeFedEx, FedExRates]) -> None:
    fake, rates = fedex
    quote = await quote_with(rates)
    assert quote.source == "fedex" and quote.fallback_reason is None
    assert [(o.id, o.cost, o.service_type, o.estimated_days) for o in quote.options] == [
        ("fedex:STANDARD_OVERNIGHT", 3927, "overnight", 1),  # USD row, not the CAD one
        ("fedex:FEDEX_2_DAY", 2400, "express", 2),  # 2Day wins over Express Saver
        ("fedex:FEDEX_GROUND", 435, "ground", 3),  # ACCOUNT, not LIST; 4.35 exactly
    ]
    ground = quote.options[2]
    assert ground.carrier == "FedEx" and ground.source == "fedex"
    assert ground.estimate is not None and ground.estimate.earliest.isoformat() == "2026-12-01"
    (token_call,) = fake.of("/oauth/token")
    assert token_call.body == {
        "grant_type": "client_credentials",
        "client_id": "client-id",
        "client_secret": "client-secret",
    }
    (call,) = fake.of(QUOTES)
    assert call.headers["Authorization"] == "Bearer tok-1" and call.headers["X-locale"] == "en_US"
    shipment = call.body["requestedShipment"]
    assert call.body["accountNumber"] == {"value": "740561073"}
    assert shipment["recipient"]["address"] == {
        "postalCode": "94043",
        "stateOrProvinceCode": "CA",
        "countryCode": "US",
    }
    assert shipment["requestedPackageLineItems"] == [{"weight": {"units": "KG", "value": 1.5}}]
    assert shipment["rateRequestType"] == ["ACCOUNT", "LIST"]
    assert shipment["preferredCurrency"] == "USD"


async def test_fedex_token_is_cached_until_a_minute_before_it_expires(
    fedex: tuple[FakeFedEx, FedExRates], clock: MovableClock
) -> None:
    fake, rates = fedex
    await rates.rates(PARCEL)
    clock.advance(seconds=3599 - 61)
    await rates.rates(PARCEL)
    assert len(fake.of("/oauth/token")) == 1
    clock.advance(seconds=2)  # now within the last minute of the token's hour
    await rates.rates(PARCEL)
    assert len(fake.of("/oauth/token")) == 2
    assert [c.headers["Authorization"] for c in fake.of(QUOTES)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_a_refused_token_is_replaced_once(fedex: tuple[FakeFedEx, FedExRates]) -> None:
    fake, rates = fedex
    await rates.rates(PARCEL)
    fake.tokens.clear()  # FedEx revoked it before its hour was up: 401 NOT.AUTHORIZED.ERROR
    quote = await quote_with(rates)
    assert quote.source == "fedex"
    assert [c.headers["Authorization"] for c in fake.of(QUOTES)][-2:] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_wrong_credentials_fall_back_to_table_rates(clock: MovableClock) -> None:
    fake = FakeFedEx(rates=fedex_rates())
    async with serve(fedex=fake) as base:
        wrong = FedExRates(
            client_id="client-id",
            client_secret="not-the-secret",
            account_number="740561073",
            origin_country="US",
            origin_postal_code="10001",
            clock_now=clock.now,
            endpoint=base,
        )
        quote = await quote_with(wrong)
    assert quote.source == "table" and {o.id for o in quote.options} == TABLE_IDS
    assert quote.fallback_reason == "fedex: FedEx: token: HTTP 401 NOT.AUTHORIZED.ERROR"
    assert fake.of(QUOTES) == []


async def test_a_token_refused_twice_falls_back(fedex: tuple[FakeFedEx, FedExRates]) -> None:
    fake, rates = fedex
    fake.script(
        "/oauth/token",
        (200, {"access_token": "stale", "token_type": "bearer", "expires_in": 3599}, {}),
        (200, {"access_token": "stale-2", "token_type": "bearer", "expires_in": 3599}, {}),
    )
    quote = await quote_with(rates)
    assert quote.source == "table"
    assert quote.fallback_reason == "fedex: FedEx: FedEx rate: HTTP 401 NOT.AUTHORIZED.ERROR"
    assert len(fake.of(QUOTES)) == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID.INPUT.EXCEPTION"),
        (403, "FORBIDDEN.ERROR"),
        (404, "NOT.FOUND.ERROR"),
        (500, "INTERNAL.SERVER.ERROR"),
        (503, "SERVICE.UNAVAILABLE.ERROR"),
    ],
)
async def test_each_documented_error_falls_back_to_table_rates(
    fedex: tuple[FakeFedEx, FedExRates], status: int, code: str
) -> None:
    fake, rates = fedex
    fake.script(QUOTES, fedex_error(status, code, "We are unable to process this request."))
    quote = await quote_with(rates)
    assert quote.source == "table" and {o.id for o in quote.options} == TABLE_IDS
    assert quote.fallback_reason == f"fedex: FedEx: FedEx rate: HTTP {status} {code}"


async def test_the_real_validation_of_a_missing_account_is_an_error(clock: MovableClock) -> None:
    fake = FakeFedEx(rates=fedex_rates(), account_number="510087020")
    async with serve(fedex=fake) as base:
        quote = await quote_with(carrier(base, clock))
    assert quote.source == "table"
    assert quote.fallback_reason == "fedex: FedEx: FedEx rate: HTTP 400 INVALID.INPUT.EXCEPTION"


async def test_a_429_pauses_fedex_until_retry_after(
    fedex: tuple[FakeFedEx, FedExRates], clock: MovableClock
) -> None:
    fake, rates = fedex
    fake.script(
        QUOTES,
        (
            429,
            {
                "transactionId": "x",
                "errors": [
                    {
                        "code": "TOO.MANY.REQUESTS",
                        "message": "We have received too many requests in a short duration. "
                        "Please wait a while to try again.",
                    }
                ],
            },
            {"Retry-After": "30"},
        ),
    )
    first = await quote_with(rates)
    assert first.source == "table" and "HTTP 429" in (first.fallback_reason or "")
    clock.advance(seconds=29)
    paused = await quote_with(rates)
    assert paused.source == "table" and "rate limited until" in (paused.fallback_reason or "")
    assert len(fake.of(QUOTES)) == 1  # nothing sent while paused
    clock.advance(seconds=2)
    assert (await quote_with(rates)).source == "fedex"
    assert len(fake.of(QUOTES)) == 2


async def test_a_fedex_timeout_falls_back_to_table_rates(
    fedex: tuple[FakeFedEx, FedExRates],
) -> None:
    fake, rates = fedex
    fake.hold = asyncio.Event()  # FedEx never answers within the timeout
    quote = await quote_with(rates, wait=0.2)
    assert quote.source == "table" and quote.fallback_reason == "fedex: timeout"


@pytest.mark.parametrize(
    "answer",
    [
        (200, "<html>maintenance</html>", {}),
        (200, {"transactionId": "x", "output": {}}, {}),
        (200, {"output": {"rateReplyDetails": [fedex_reply_detail("FEDEX_GROUND", [])]}}, {}),
        (
            200,
            {
                "output": {
                    "rateReplyDetails": [
                        fedex_reply_detail("FEDEX_GROUND", [fedex_rated("ACCOUNT", "1.005")])
                    ]
                }
            },
            {},
        ),
        (
            200,
            {
                "output": {
                    "rateReplyDetails": [
                        fedex_reply_detail("FEDEX_GROUND", [fedex_rated("ACCOUNT", -5)])
                    ]
                }
            },
            {},
        ),
    ],
    ids=["html", "no-details", "no-usd-rate", "sub-cent", "negative"],
)
async def test_unreadable_answers_fall_back(
    fedex: tuple[FakeFedEx, FedExRates], answer: Any
) -> None:
    fake, rates = fedex
    fake.script(QUOTES, answer)
    quote = await quote_with(rates)
    assert quote.source == "table" and (quote.fallback_reason or "").startswith("fedex: FedEx")


# --- UPS and FedEx together -----------------------------------------------------------

UPS_RATED = [
    {
        "Service": {"Code": "03"},
        "TotalCharges": {"CurrencyCode": "USD", "MonetaryValue": "12.34"},
        "GuaranteedDelivery": {"BusinessDaysInTransit": "3"},
    }
]


def ups_at(base: str, clock: MovableClock) -> UPSRates:
    return UPSRates(
        token="t-test",
        origin_country="US",
        origin_postal_code="10001",
        endpoint=base,
        clock_now=clock.now,
    )


async def test_both_carriers_options_are_merged(clock: MovableClock) -> None:
    fedex, ups = FakeFedEx(rates=fedex_rates()), FakeUPS(rated=UPS_RATED)
    async with serve(fedex=fedex, ups=ups) as base:
        quote = await quote_with(ups_at(base, clock), carrier(base, clock))
    assert quote.source == "ups,fedex" and quote.fallback_reason is None
    assert [(o.id, o.carrier) for o in quote.options] == [
        ("ups:03", "UPS"),
        ("fedex:STANDARD_OVERNIGHT", "FedEx"),
        ("fedex:FEDEX_2_DAY", "FedEx"),
        ("fedex:FEDEX_GROUND", "FedEx"),
    ]
    assert len({o.id for o in quote.options}) == 4


async def test_one_carrier_failing_keeps_the_others_options(clock: MovableClock) -> None:
    fedex, ups = FakeFedEx(rates=fedex_rates()), FakeUPS(rated=UPS_RATED)
    fedex.script(QUOTES, fedex_error(503, "SERVICE.UNAVAILABLE.ERROR", "down"))
    async with serve(fedex=fedex, ups=ups) as base:
        quote = await quote_with(ups_at(base, clock), carrier(base, clock))
    assert quote.source == "ups" and [o.id for o in quote.options] == ["ups:03"]


async def test_both_carriers_failing_fall_back_to_table_rates(clock: MovableClock) -> None:
    fedex, ups = FakeFedEx(rates=fedex_rates()), FakeUPS(rated=UPS_RATED)
    fedex.script(QUOTES, fedex_error(500, "INTERNAL.SERVER.ERROR", "boom"))
    ups.script("/api/rating/v2403/Shop", (503, "busy", {}))
    async with serve(fedex=fedex, ups=ups) as base:
        quote = await quote_with(ups_at(base, clock), carrier(base, clock))
    assert quote.source == "table" and {o.id for o in quote.options} == TABLE_IDS
    reason = quote.fallback_reason or ""
    assert reason.startswith("ups: UPS:") and "fedex: FedEx: FedEx rate: HTTP 500" in reason


# --- settings and the composition root -------------------------------------------------


async def test_settings_pick_both_carriers(clock: MovableClock) -> None:
    fedex, ups = FakeFedEx(rates=fedex_rates()), FakeUPS(rated=UPS_RATED)
    async with serve(fedex=fedex, ups=ups) as base:
        settings = Settings(
            shipping_provider="fedex, ups",  # any order
            shipping_ups_token="t-test",
            shipping_ups_endpoint=base,
            shipping_fedex_endpoint=base,
            shipping_fedex_client_id="client-id",
            shipping_fedex_client_secret="client-secret",
            shipping_fedex_account_number="740561073",
        )
        assert settings.shipping_provider == "ups,fedex"
        svc = build_shipping_service(settings, clock)
        assert [c.name for c in svc.carriers] == ["ups", "fedex"]
        quote = await svc.get_shipping_options(PARCEL, NOW)
    assert quote.source == "ups,fedex" and len(quote.options) == 4


def test_fedex_without_an_account_number_is_not_built(clock: MovableClock) -> None:
    settings = Settings(
        shipping_provider="fedex",
        shipping_fedex_client_id="client-id",
        shipping_fedex_client_secret="client-secret",
    )
    assert build_shipping_service(settings, clock).carriers == ()
    assert "client-secret" not in repr(settings)  # a SecretStr


async def test_a_destination_without_regions_sends_no_state_code(
    fedex: tuple[FakeFedEx, FedExRates],
) -> None:
    fake, rates = fedex
    await rates.rates(ShippingRequest("USD", "DE", "", "10117", 500, 4000))
    (call,) = fake.of(QUOTES)
    assert call.body["requestedShipment"]["recipient"]["address"] == {
        "postalCode": "10117",
        "countryCode": "DE",
    }
    assert call.body["requestedShipment"]["requestedPackageLineItems"][0]["weight"] == {
        "units": "KG",
        "value": 0.5,
    }


def test_the_secret_stays_out_of_reprs(clock: MovableClock) -> None:
    rates = carrier("http://127.0.0.1:9", clock)
    assert "client-secret" not in repr(rates) and "client-secret" not in repr(rates.credentials)
