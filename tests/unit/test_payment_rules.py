"""Pure payment rules: risk threshold, source allow-list, webhook verification, keys."""

from __future__ import annotations

import json
import time

import pytest

from tillpoint.config import RiskLevel, load_settings
from tillpoint.payments.gateway import WebhookRejected, idempotency_key
from tillpoint.payments.risk import held_for_review
from tillpoint.payments.sandbox import sign_payload
from tillpoint.payments.webhooks import source_allowed, verify_event


@pytest.mark.parametrize(
    ("level", "threshold", "held"),
    [
        ("normal", RiskLevel.normal, False),
        ("elevated", RiskLevel.normal, True),
        ("elevated", RiskLevel.elevated, False),
        ("highest", RiskLevel.elevated, True),
        ("highest", RiskLevel.highest, False),
        (None, RiskLevel.normal, False),
        ("not_assessed", RiskLevel.normal, False),
        ("unknown", RiskLevel.normal, False),
    ],
)
def test_payment_is_held_only_above_the_risk_threshold(
    level: str | None, threshold: RiskLevel, held: bool
) -> None:
    assert held_for_review(level, threshold) is held


@pytest.mark.parametrize(
    ("ip", "allowed", "ok"),
    [
        ("3.18.12.63", [], True),
        ("3.18.12.63", ["3.18.12.63"], True),
        ("3.18.12.64", ["3.18.12.63/32"], False),
        ("10.1.2.3", ["10.0.0.0/8", "192.168.0.0/16"], True),
        (None, ["10.0.0.0/8"], False),
        ("not-an-ip", ["10.0.0.0/8"], False),
        ("::1", ["::1/128"], True),
    ],
)
def test_webhook_source_allow_list(ip: str | None, allowed: list[str], ok: bool) -> None:
    assert source_allowed(ip, allowed) is ok


def _event() -> bytes:
    return json.dumps(
        {"id": "evt_1", "type": "charge.succeeded", "created": 1, "data": {"object": {"id": "c"}}}
    ).encode()


def test_the_first_matching_secret_verifies() -> None:
    payload = _event()
    header = sign_payload(payload, "whsec_new", int(time.time()))
    event = verify_event(payload, header, ["whsec_old", "whsec_new"], 300)
    assert (event.id, event.type, event.object) == ("evt_1", "charge.succeeded", {"id": "c"})


def test_no_configured_secret_refuses_everything() -> None:
    payload = _event()
    with pytest.raises(WebhookRejected) as err:
        verify_event(payload, sign_payload(payload, "x", int(time.time())), [], 300)
    assert err.value.code == "webhook_not_configured"


def test_tolerance_is_the_configured_window() -> None:
    payload = _event()
    header = sign_payload(payload, "whsec_a", int(time.time()) - 61)
    with pytest.raises(WebhookRejected) as err:
        verify_event(payload, header, ["whsec_a"], 60)
    assert err.value.code == "webhook_timestamp_stale"
    assert verify_event(payload, header, ["whsec_a"], 300).id == "evt_1"


@pytest.mark.parametrize(
    ("signed_at", "code"),
    [
        (1_000_000 - 61, "webhook_timestamp_stale"),
        (1_000_000 + 61, "webhook_timestamp_future"),
        (1_000_000 + 30 * 24 * 3600, "webhook_timestamp_future"),
    ],
)
def test_the_window_bounds_the_timestamp_both_ways(signed_at: int, code: str) -> None:
    payload = _event()
    header = sign_payload(payload, "whsec_a", signed_at)
    with pytest.raises(WebhookRejected) as err:
        verify_event(payload, header, ["whsec_a"], 60, now=1_000_000)
    assert err.value.code == code
    for inside in (1_000_000 - 60, 1_000_000 + 60):
        header = sign_payload(payload, "whsec_a", inside)
        assert verify_event(payload, header, ["whsec_a"], 60, now=1_000_000).id == "evt_1"


def test_idempotency_key_names_checkout_attempt_and_operation() -> None:
    assert idempotency_key("chk_1", 2, "pay") == "tillpoint:chk_1:2:pay"
    assert idempotency_key("chk_1", 2, "pay") != idempotency_key("chk_1", 3, "pay")


def test_gateway_choice_follows_the_secret_key() -> None:
    assert load_settings(stripe_secret_key=None).uses_stripe is False
    assert load_settings(stripe_secret_key="sk_test_x").uses_stripe is True
    assert (
        load_settings(stripe_secret_key="sk_test_x", payment_gateway="sandbox").uses_stripe is False
    )
