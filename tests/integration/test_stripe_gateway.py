"""Stripe-only behaviour of the gateway: the fallback account, SDK retries, idempotency
keys and request parameters on the wire, and Radar outcomes passed through.

localstripe cannot answer 5xx or carry a Radar ``outcome``; those pieces run against
a scripted Stripe-shaped server on loopback (recorded response bodies)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from tests.localstripe_server import LocalStripe, free_port
from tests.stripe_fixtures import FALLBACK_KEY, ScriptedStripe, stripe_settings
from tillpoint.config import load_settings
from tillpoint.payments.gateway import (
    FALLBACK,
    PRIMARY,
    CreateIntent,
    GatewayRejected,
    GatewayUnavailable,
    IntentStatus,
    idempotency_key,
)
from tillpoint.payments.stripe_gateway import StripeGateway, _client

pytestmark = pytest.mark.stripe


def _request(key: str = "chk_1", pm: str | None = "pm_card_visa") -> CreateIntent:
    return CreateIntent(
        amount=4200,
        currency="EUR",
        idempotency_key=idempotency_key(key, 1, "pay"),
        metadata={"checkout_id": key},
        payment_method_id=pm,
        confirm=pm is not None,
    )


def _gateway(primary: str, fallback: str | None = None, **extra: object) -> StripeGateway:
    values = stripe_settings(primary, **extra)
    if fallback is not None:
        # Both accounts share one api_base setting in production; here the fallback is
        # a separate server, so give it its own client.
        values["stripe_fallback_secret_key"] = FALLBACK_KEY
    gateway = StripeGateway(load_settings(**values))
    if fallback is not None:
        gateway._accounts[FALLBACK].client = _client(
            load_settings(**stripe_settings(fallback, **extra)), FALLBACK_KEY
        )
    return gateway


async def test_primary_5xx_after_sdk_retries_falls_back_to_second_account(
    scripted_stripe: ScriptedStripe, localstripe: LocalStripe
) -> None:
    gateway = _gateway(scripted_stripe.url, localstripe.url)
    result = await gateway.create_payment_intent(_request())
    assert result.account == FALLBACK
    assert result.status is IntentStatus.succeeded
    # One request and the SDK's 3 retries, all with the same idempotency key.
    assert len(scripted_stripe.requests) == 4
    keys = {r["headers"]["idempotency-key"] for r in scripted_stripe.requests}
    assert keys == {"tillpoint:chk_1:1:pay:create"}
    # Later calls for that intent go to the account it lives on.
    again = await gateway.retrieve_payment_intent(result.id, account=result.account)
    assert again.status is IntentStatus.succeeded
    refund = await gateway.refund(
        result.id, idempotency_key="chk_1:refund:1", amount=100, account=result.account
    )
    assert refund.account == FALLBACK


async def test_primary_connection_refused_falls_back(localstripe: LocalStripe) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    gateway = _gateway(closed, localstripe.url, stripe_max_network_retries=1)
    result = await gateway.create_payment_intent(_request("chk_conn"))
    assert result.account == FALLBACK


async def test_decline_on_primary_never_uses_the_fallback(
    localstripe: LocalStripe, scripted_stripe: ScriptedStripe
) -> None:
    gateway = _gateway(localstripe.url, scripted_stripe.url)
    result = await gateway.create_payment_intent(_request("chk_dec", "pm_card_chargeCustomerFail"))
    assert result.account == PRIMARY
    assert result.decline_code == "card_declined"
    assert scripted_stripe.requests == []


async def test_both_accounts_down_is_service_unavailable(scripted_stripe: ScriptedStripe) -> None:
    gateway = _gateway(scripted_stripe.url, scripted_stripe.url, stripe_max_network_retries=0)
    with pytest.raises(GatewayUnavailable) as err:
        await gateway.create_payment_intent(_request())
    assert err.value.status == 503
    assert len(scripted_stripe.requests) == 2


async def test_primary_down_without_fallback_is_service_unavailable(
    scripted_stripe: ScriptedStripe,
) -> None:
    gateway = _gateway(scripted_stripe.url, stripe_max_network_retries=0)
    with pytest.raises(GatewayUnavailable):
        await gateway.create_payment_intent(_request())


async def test_a_4xx_is_rejected_not_retried_and_not_fallen_back(
    scripted_stripe: ScriptedStripe,
) -> None:
    scripted_stripe.status = 400
    scripted_stripe.body = {"error": {"type": "invalid_request_error", "message": "No such thing"}}
    gateway = _gateway(scripted_stripe.url, scripted_stripe.url)
    with pytest.raises(GatewayRejected):
        await gateway.create_payment_intent(_request())
    assert len(scripted_stripe.requests) == 1


async def test_intent_request_carries_amount_3ds_setting_methods_and_metadata(
    scripted_stripe: ScriptedStripe,
) -> None:
    scripted_stripe.status = 200
    scripted_stripe.body = {
        "id": "pi_rec", "object": "payment_intent", "amount": 4200, "currency": "eur",
        "status": "requires_payment_method", "client_secret": "pi_rec_secret_x",
        "metadata": {"checkout_id": "chk_1"},
    }  # fmt: skip
    gateway = _gateway(
        scripted_stripe.url, stripe_require_3ds="any", stripe_automatic_payment_methods=True
    )
    result = await gateway.create_payment_intent(_request(pm=None))
    assert result.client_secret == "pi_rec_secret_x"
    sent = parse_qs(scripted_stripe.requests[0]["body"])
    assert sent["amount"] == ["4200"]
    assert sent["currency"] == ["eur"]
    assert sent["payment_method_options[card][request_three_d_secure]"] == ["any"]
    assert sent["automatic_payment_methods[enabled]"] == ["true"]
    assert sent["metadata[checkout_id]"] == ["chk_1"]
    assert scripted_stripe.requests[0]["headers"]["authorization"].endswith("sk_test_primary_12345")


async def test_radar_risk_level_and_decline_code_are_passed_through(
    scripted_stripe: ScriptedStripe,
) -> None:
    # Recorded shape of a succeeded intent with an expanded charge (Radar outcome).
    scripted_stripe.status = 200
    scripted_stripe.body = {
        "id": "pi_risk", "object": "payment_intent", "amount": 4200, "currency": "eur",
        "status": "succeeded", "client_secret": "pi_risk_secret", "metadata": {},
        "latest_charge": {
            "id": "ch_risk", "object": "charge",
            "outcome": {"network_status": "approved_by_network", "risk_level": "elevated",
                        "risk_score": 67, "type": "authorized"},
        },
        "payment_method": {
            "id": "pm_x", "object": "payment_method",
            "card": {"brand": "visa", "last4": "9235", "fingerprint": "fpRISK"},
        },
    }  # fmt: skip
    result = await _gateway(scripted_stripe.url).retrieve_payment_intent("pi_risk")
    assert result.risk_level == "elevated"
    assert result.card_fingerprint == "fpRISK"
    assert result.latest_charge_id == "ch_risk"
    assert "expand[0]=latest_charge" in scripted_stripe.requests[0]["path"].replace(
        "%5B", "["
    ).replace("%5D", "]")


async def test_retries_back_off_exponentially(scripted_stripe: ScriptedStripe) -> None:
    gateway = _gateway(scripted_stripe.url, stripe_max_network_retries=2)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        await gateway.create_payment_intent(_request())
    # The SDK waits at least 0.5 s before each retry (then doubles, with jitter).
    assert time.monotonic() - started >= 1.0
    assert len(scripted_stripe.requests) == 3
