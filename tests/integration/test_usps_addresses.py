"""USPS address validation at the HTTP boundary, against a loopback server speaking USPS's API.

API versions followed: USPS OAuth 2.0 **v3** (``POST /oauth2/v3/token``, client credentials
as a JSON body, ``expires_in`` sent as a string of seconds) and the USPS Addresses API
**v3** (``GET /addresses/v3/address?streetAddress=&secondaryAddress=&city=&state=&ZIPCode=
&ZIPPlus4=`` → ``{"firm", "address": {...}, "additionalInfo": {"DPVConfirmation", "vacant",
...}, "corrections": [{"code", "text"}], "matches": [{"code", "text"}]}``; errors
``{"apiVersion", "error": {"code", "message", "errors": [...]}}`` with 400 (a parameter
refused by the gateway's validation), 401, 403, 404 "Address Not Found.", 429, 500 and
503), as published on developers.usps.com and in USPS/api-examples (2025). Every failure
is observed falling back to the built-in rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from tests.carrier_servers import FakeUSPS, serve, usps_answer, usps_error
from tests.support import MovableClock
from tillpoint.addresses.schemas import Address
from tillpoint.addresses.service import (
    AddressValidationService,
    ByCountry,
    GoogleAddressValidation,
    build_address_validation,
)
from tillpoint.addresses.usps import USPSAddressValidation
from tillpoint.config import Settings
from tillpoint.pricing.service import build_pricing_services

ADDRESS = Address(
    first_name="Ada",
    last_name="Lovelace",
    street1="3120 m st",
    street2="nw",
    city="washington",
    state="DC",
    zip_code="20027",
    country="US",
)
LOOKUP = "/addresses/v3/address"
KNOWN = {
    ("3120 m st", "20027"): usps_answer("3120 M ST NW", "WASHINGTON", "DC", "20007", "3704"),
}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 11, 26, 10, tzinfo=UTC))


@pytest.fixture
async def usps(clock: MovableClock) -> AsyncIterator[tuple[FakeUSPS, USPSAddressValidation]]:
    fake = FakeUSPS(known=dict(KNOWN))
    async with serve(usps=fake) as base:
        yield fake, provider(base, clock)


def provider(base: str, clock: MovableClock, secret: str = "client-secret") -> Any:
    return USPSAddressValidation(
        client_id="client-id", client_secret=secret, clock_now=clock.now, endpoint=base
    )


async def test_usps_standardises_a_us_address(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "usps" and result.errors == ()
    standardized = result.standardized_address
    assert standardized is not None
    assert (standardized.street1, standardized.street2, standardized.city) == (
        "3120 M ST NW",
        None,
        "WASHINGTON",
    )
    assert (standardized.state, standardized.zip_code) == ("DC", "20007-3704")
    assert standardized.first_name == "Ada"  # the person is kept
    assert result.suggestions == (standardized,)
    assert (result.confidence, result.deliverability_score) == (0.95, 1.0)
    (token,) = fake.of("/oauth2/v3/token")
    assert token.headers["Content-Type"] == "application/json"
    assert token.body == {
        "grant_type": "client_credentials",
        "client_id": "client-id",
        "client_secret": "client-secret",
    }
    (call,) = fake.of(LOOKUP)
    assert call.headers["Authorization"] == "Bearer tok-1"
    assert call.query == {
        "streetAddress": "3120 m st",
        "secondaryAddress": "nw",
        "city": "washington",
        "state": "DC",
        "ZIPCode": "20027",
    }


@pytest.mark.parametrize(
    ("dpv", "vacant", "match", "valid", "confidence", "deliverable"),
    [
        ("S", "N", "31", True, 0.7, 0.8),  # secondary number not confirmed
        ("D", "N", "31", True, 0.6, 0.6),  # secondary number missing
        ("Y", "Y", "31", True, 0.95, 0.5),  # vacant
        ("Y", "N", "", True, 0.85, 1.0),  # not an exact match (corrected)
        ("N", "N", "31", False, 0.3, 0.1),  # not a delivery point
    ],
)
async def test_delivery_point_validation_sets_the_scores(
    clock: MovableClock,
    dpv: str,
    vacant: str,
    match: str,
    valid: bool,
    confidence: float,
    deliverable: float,
) -> None:
    answer = usps_answer("3120 M ST NW", "WASHINGTON", "DC", "20007", "3704", dpv, None, match)
    answer["additionalInfo"]["vacant"] = vacant
    fake = FakeUSPS(known={("3120 m st", "20027"): answer})
    async with serve(usps=fake) as base:
        result = await AddressValidationService(provider(base, clock)).validate_address(ADDRESS)
    assert (result.is_valid, result.confidence, result.deliverability_score) == (
        valid,
        confidence,
        deliverable,
    )
    if not valid:
        assert [(e.path, e.code) for e in result.errors] == [
            (("address", "street1"), "address_undeliverable")
        ]


async def test_an_address_usps_does_not_know_is_refused(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    unknown = ADDRESS.model_copy(update={"street1": "9999 nowhere st"})
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(unknown)
    assert not result.is_valid and result.source == "usps" and svc.fallbacks == []
    assert [(e.path, e.code) for e in result.errors] == [
        (("address", "street1"), "address_undeliverable")
    ]
    assert fake.of(LOOKUP)[0].query["streetAddress"] == "9999 nowhere st"


async def test_the_token_is_cached_until_a_minute_before_it_expires(
    usps: tuple[FakeUSPS, USPSAddressValidation], clock: MovableClock
) -> None:
    fake, usps_provider = usps
    svc = AddressValidationService(usps_provider)
    await svc.validate_address(ADDRESS)
    clock.advance(seconds=28799 - 61)
    await svc.validate_address(ADDRESS)
    assert len(fake.of("/oauth2/v3/token")) == 1
    clock.advance(seconds=2)
    await svc.validate_address(ADDRESS)
    assert [c.headers["Authorization"] for c in fake.of(LOOKUP)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_a_refused_token_is_replaced_once(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    svc = AddressValidationService(usps_provider)
    await svc.validate_address(ADDRESS)
    fake.tokens.clear()  # revoked early: the lookup answers 401
    result = await svc.validate_address(ADDRESS)
    assert result.source == "usps" and len(fake.of("/oauth2/v3/token")) == 2


async def test_wrong_credentials_fall_back_to_the_rules(clock: MovableClock) -> None:
    fake = FakeUSPS(known=dict(KNOWN))
    async with serve(usps=fake) as base:
        svc = AddressValidationService(provider(base, clock, secret="wrong"))
        result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules"
    assert svc.fallbacks == ["USPS: token: HTTP 401"]
    assert result.standardized_address is not None
    assert result.standardized_address.street1 == "3120 m st"  # the rules keep the input
    assert fake.of(LOOKUP) == []


async def test_a_token_refused_twice_falls_back(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    stale = {"access_token": "stale", "token_type": "Bearer", "expires_in": "28799"}
    fake.script("/oauth2/v3/token", (200, stale, {}), (200, stale, {}))
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(ADDRESS)
    assert result.source == "rules" and svc.fallbacks == ["USPS: USPS address: HTTP 401 401"]
    assert len(fake.of(LOOKUP)) == 2


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            400,
            usps_error(
                400,
                "OASValidation failed",
                [{"status": "400", "code": "OASValidation", "title": "Invalid ZIPCode"}],
            )[1],
            "USPS: USPS address: HTTP 400 OASValidation",
        ),
        (403, usps_error(403, "Forbidden")[1], "USPS: USPS address: HTTP 403 403"),
        (500, usps_error(500, "Internal Server Error")[1], "USPS: USPS address: HTTP 500 500"),
        (503, usps_error(503, "Service Unavailable")[1], "USPS: USPS address: HTTP 503 503"),
        (502, "<html>Bad Gateway</html>", "USPS: USPS address: HTTP 502"),
    ],
)
async def test_each_documented_error_falls_back_to_the_rules(
    usps: tuple[FakeUSPS, USPSAddressValidation], status: int, body: Any, reason: str
) -> None:
    fake, usps_provider = usps
    fake.script(LOOKUP, (status, body, {}))
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules" and svc.fallbacks == [reason]


async def test_a_429_pauses_usps_until_retry_after(
    usps: tuple[FakeUSPS, USPSAddressValidation], clock: MovableClock
) -> None:
    fake, usps_provider = usps
    fake.script(LOOKUP, (*usps_error(429, "Too Many Requests")[:2], {"Retry-After": "120"}))
    svc = AddressValidationService(usps_provider)
    assert (await svc.validate_address(ADDRESS)).source == "rules"
    clock.advance(seconds=119)
    assert (await svc.validate_address(ADDRESS)).source == "rules"
    assert len(fake.of(LOOKUP)) == 1  # nothing sent while paused
    assert svc.fallbacks[1].startswith("USPS: rate limited until")
    clock.advance(seconds=2)
    assert (await svc.validate_address(ADDRESS)).source == "usps"


async def test_a_usps_timeout_falls_back_to_the_rules(clock: MovableClock) -> None:
    fake = FakeUSPS(known=dict(KNOWN), hold=asyncio.Event())
    async with serve(usps=fake) as base:
        slow = USPSAddressValidation(
            client_id="client-id",
            client_secret="client-secret",
            clock_now=clock.now,
            endpoint=base,
            timeout=0.2,
        )
        svc = AddressValidationService(slow)
        result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules"
    assert svc.fallbacks == ["USPS: timeout"]


@pytest.mark.parametrize(
    "answer",
    [
        {"firm": None},
        usps_answer("3120 M ST NW\r\nBcc: x", "WASHINGTON", "DC", "20007", "3704"),
        "not json",
    ],
    ids=["no-address", "line-break-in-street", "not-json"],
)
async def test_unreadable_answers_fall_back(
    usps: tuple[FakeUSPS, USPSAddressValidation], answer: Any
) -> None:
    fake, usps_provider = usps
    fake.script(LOOKUP, (200, answer, {}))
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(ADDRESS)
    assert result.is_valid and result.source == "rules" and len(svc.fallbacks) == 1


async def test_the_rules_refuse_before_usps_is_asked(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    svc = AddressValidationService(usps_provider)
    result = await svc.validate_address(ADDRESS.model_copy(update={"zip_code": "123"}))
    assert not result.is_valid and fake.requests == []


# --- beside Google: US addresses to USPS, the others to Google -------------------------

BERLIN = Address(
    first_name="Ada",
    last_name="Lovelace",
    street1="Unter den Linden 77",
    city="Berlin",
    zip_code="10117",
    country="DE",
)
GOOGLE_DE = {
    "result": {
        "verdict": {"addressComplete": True, "validationGranularity": "PREMISE"},
        "address": {
            "postalAddress": {
                "regionCode": "DE",
                "postalCode": "10117",
                "locality": "Berlin",
                "addressLines": ["Unter den Linden 77"],
            }
        },
    }
}


async def test_usps_alone_leaves_other_countries_to_the_rules(
    usps: tuple[FakeUSPS, USPSAddressValidation],
) -> None:
    fake, usps_provider = usps
    result = await AddressValidationService(usps_provider).validate_address(BERLIN)
    assert result.is_valid and result.source == "rules" and fake.requests == []


async def test_settings_send_us_addresses_to_usps_and_others_to_google(
    clock: MovableClock,
) -> None:
    fake = FakeUSPS(known=dict(KNOWN))
    google_calls: list[str] = []

    async def google(request: web.Request) -> web.Response:
        google_calls.append((await request.json())["address"]["regionCode"])
        return web.json_response(GOOGLE_DE)

    async with serve(usps=fake) as base:
        app = web.Application()
        app.router.add_post("/v1:validateAddress", google)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        settings = Settings(
            address_provider="google,usps",  # any order
            address_google_api_key="k-test",
            address_usps_endpoint=base,
            address_usps_client_id="client-id",
            address_usps_client_secret="client-secret",
        )
        assert settings.address_provider == "usps,google"
        svc = build_address_validation(settings, clock)
        assert isinstance(svc.provider, ByCountry)
        google_p = svc.provider.providers[1]
        assert isinstance(google_p, GoogleAddressValidation)
        google_p.endpoint = f"http://127.0.0.1:{port}/v1:validateAddress"
        us = await svc.validate_address(ADDRESS)
        de = await svc.validate_address(BERLIN)
        await runner.cleanup()
    assert (us.source, de.source) == ("usps", "google")
    assert len(fake.of(LOOKUP)) == 1 and google_calls == ["DE"]


def test_usps_needs_both_keys(clock: MovableClock) -> None:
    settings = Settings(address_provider="usps", address_usps_client_id="client-id")
    assert build_address_validation(settings, clock).provider is None
    keyed = Settings(
        address_provider="usps",
        address_usps_client_id="client-id",
        address_usps_client_secret="client-secret",
    )
    built = build_address_validation(keyed, clock).provider
    assert isinstance(built, USPSAddressValidation)
    assert "client-secret" not in repr(keyed)  # a SecretStr
    assert "client-secret" not in repr(built)


def test_the_composition_root_builds_what_the_settings_choose(clock: MovableClock) -> None:
    settings = Settings(
        address_provider="usps",
        address_usps_client_id="client-id",
        address_usps_client_secret="client-secret",
        shipping_provider="ups,fedex",
        shipping_ups_token="t-test",
        shipping_fedex_client_id="client-id",
        shipping_fedex_client_secret="client-secret",
        shipping_fedex_account_number="740561073",
    )
    pricing = build_pricing_services(settings, clock)  # what bootstrap.build_runtime calls
    assert isinstance(pricing.addresses.provider, USPSAddressValidation)
    assert [c.name for c in pricing.shipping.carriers] == ["ups", "fedex"]
