"""A guest checkout with USPS, UPS and FedEx chosen by settings, over HTTP, on both databases.

The providers are the loopback servers of ``tests/carrier_servers.py`` (FedEx Rate API v1
and OAuth, USPS Addresses API v3 and OAuth v3, UPS Rating v2403); the runtime is built by
the composition root from the settings, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.api.test_checkout import CARD, GUEST, NY, fill_cart, send, start
from tests.carrier_servers import (
    FakeFedEx,
    FakeUPS,
    FakeUSPS,
    fedex_error,
    fedex_rated,
    fedex_reply_detail,
    serve,
    usps_answer,
    usps_error,
)
from tests.support import Api
from tillpoint.runtime import Runtime

UPS_RATED = [
    {
        "Service": {"Code": "03"},
        "TotalCharges": {"CurrencyCode": "USD", "MonetaryValue": "12.34"},
        "GuaranteedDelivery": {"BusinessDaysInTransit": "3"},
    }
]
FEDEX_RATES = [
    fedex_reply_detail("FEDEX_GROUND", [fedex_rated("ACCOUNT", Decimal("9.87"))], "FOUR_DAYS"),
    fedex_reply_detail("STANDARD_OVERNIGHT", [fedex_rated("ACCOUNT", Decimal("45.10"))]),
]


class Providers:
    def __init__(self) -> None:
        self.fedex = FakeFedEx(rates=FEDEX_RATES)
        self.ups = FakeUPS(rated=UPS_RATED)
        self.usps = FakeUSPS(
            known={
                ("350 Fifth Avenue", "10118"): usps_answer(
                    "350 5TH AVE", "NEW YORK", "NY", "10118", "0110"
                )
            }
        )
        self.base = ""


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    found = Providers()
    async with serve(fedex=found.fedex, usps=found.usps, ups=found.ups) as base:
        found.base = base
        yield found


@pytest.fixture
def settings_overrides(providers: Providers) -> dict[str, Any]:
    return {
        "shipping_provider": "ups,fedex",
        "shipping_ups_token": "t-test",
        "shipping_ups_endpoint": providers.base,
        "shipping_fedex_endpoint": providers.base,
        "shipping_fedex_client_id": "client-id",
        "shipping_fedex_client_secret": "client-secret",
        "shipping_fedex_account_number": "740561073",
        "address_provider": "usps",
        "address_usps_endpoint": providers.base,
        "address_usps_client_id": "client-id",
        "address_usps_client_secret": "client-secret",
    }


async def to_shipping_method(api: Api, rt: Runtime) -> tuple[str, dict[str, Any]]:
    await fill_cart(api, rt, price=2000, qty=2)
    cid = (await start(api))["id"]
    for type_, fields in (
        ("SELECT_GUEST", {}),
        ("SUBMIT_GUEST_INFO", GUEST),
        ("SUBMIT_SHIPPING", {"address": NY}),
        ("USE_SHIPPING_ADDRESS", {}),
    ):
        r = await send(api, cid, type_, **fields)
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "shipping_method"
    return cid, body


async def test_usps_standardises_and_both_carriers_quote(
    api: Api, rt: Runtime, providers: Providers
) -> None:
    cid, body = await to_shipping_method(api, rt)
    shipping_to = body["context"]["shipping_address"]
    assert (shipping_to["street1"], shipping_to["zip_code"]) == ("350 5TH AVE", "10118-0110")
    assert body["context"]["address_validation"]["source"] == "usps"

    r = await api.get(f"/api/checkout/{cid}/shipping-options")
    assert r.status_code == 200
    quote = r.json()
    assert quote["source"] == "ups,fedex" and quote["fallback_reason"] is None
    costs = {o["id"]: (o["carrier"], o["cost"]) for o in quote["items"]}
    assert costs == {
        "ups:03": ("UPS", 1234),
        "fedex:STANDARD_OVERNIGHT": ("FedEx", 4510),
        "fedex:FEDEX_GROUND": ("FedEx", 987),
    }
    sent = providers.fedex.of("/rate/v1/rates/quotes")[0].body["requestedShipment"]
    assert sent["recipient"]["address"]["postalCode"] == "10118-0110"  # USPS's ZIP+4
    assert sent["requestedPackageLineItems"][0]["weight"] == {"units": "KG", "value": 0.8}

    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="fedex:FEDEX_GROUND")
    assert r.status_code == 200, r.text
    r = await send(api, cid, "SELECT_PAYMENT", payment_method=CARD)
    body = r.json()
    assert body["state"] == "order_review"
    assert body["context"]["totals"]["shipping"] == 987


async def test_every_provider_down_still_checks_out_on_rules_and_tables(
    api: Api, rt: Runtime, providers: Providers
) -> None:
    providers.usps.script("/addresses/v3/address", usps_error(503, "Service Unavailable"))
    for _ in range(2):  # the options page and SELECT_SHIPPING each ask the carriers
        providers.fedex.script(
            "/rate/v1/rates/quotes", fedex_error(503, "SERVICE.UNAVAILABLE.ERROR", "down")
        )
        providers.ups.script("/api/rating/v2403/Shop", (500, "boom", {}))
    cid, body = await to_shipping_method(api, rt)
    assert body["context"]["address_validation"]["source"] == "rules"
    assert body["context"]["shipping_address"]["street1"] == NY["street1"]

    quote = (await api.get(f"/api/checkout/{cid}/shipping-options")).json()
    assert quote["source"] == "table"
    assert {o["id"] for o in quote["items"]} == {"us:ground", "us:two_day", "us:next_day"}
    assert "SERVICE.UNAVAILABLE.ERROR" in quote["fallback_reason"]
    r = await send(api, cid, "SELECT_SHIPPING", shipping_method_id="us:ground")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "payment_method"
