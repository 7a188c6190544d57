"""Webhook intake over HTTP (sandbox gateway): verification, exactly-once recording,
dedicated paths, the IP allow-list, and out-of-order events."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.payment_support import (
    attempt_status,
    intent_object,
    signed,
    stripe_event,
    webhook_rows,
)
from tests.support import Api, error_code
from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.payments.attempts import record_attempt
from tillpoint.payments.gateway import CreateIntent, IntentStatus
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.payments.velocity import AttemptKeys
from tillpoint.runtime import Runtime

SECRET = "whsec_sandbox_for_tests"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sandbox_webhook_secret": SECRET}


async def test_verified_event_is_recorded_once_and_a_replay_is_a_no_op(
    api: Api, rt: Runtime
) -> None:
    event = stripe_event("payment_intent.succeeded", intent_object("pi_1", "succeeded"))
    body, headers = signed(event, SECRET)
    first = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "received": True,
        "event_id": event["id"],
        "type": "payment_intent.succeeded",
        "duplicate": False,
    }
    replay = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    rows = await webhook_rows(rt)
    assert [(r.id, r.object_id, r.gateway) for r in rows] == [(event["id"], "pi_1", "sandbox")]


async def test_webhooks_need_no_csrf_token_or_session(new_api: Any) -> None:
    stranger: Api = await new_api(start=False)
    body, headers = signed(stripe_event("charge.succeeded", {"id": "ch_1"}), SECRET)
    response = await stranger.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong_secret", 401, "webhook_signature_invalid"),
        ("stale", 401, "webhook_timestamp_stale"),
        ("future", 401, "webhook_timestamp_future"),
        ("just_too_far_ahead", 401, "webhook_timestamp_future"),
        ("missing_header", 401, "webhook_signature_missing"),
        ("malformed_header", 401, "webhook_signature_malformed"),
        ("timestamp_not_a_number", 401, "webhook_signature_malformed"),
        ("no_v1_signature", 401, "webhook_signature_malformed"),
        ("tampered_body", 401, "webhook_signature_invalid"),
        ("not_json", 400, "webhook_malformed"),
        ("not_an_event", 400, "webhook_malformed"),
    ],
)
async def test_unverifiable_webhook_is_refused_and_changes_nothing(
    api: Api, rt: Runtime, case: str, status: int, code: str
) -> None:
    # A signature that fails is a failed credential (401, as the inventory webhook answers).
    body, headers = _delivery(case)
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert await webhook_rows(rt) == []


def _delivery(case: str) -> tuple[bytes, dict[str, str]]:
    """A ``payment_intent.succeeded`` delivery spoilt the way ``case`` names."""
    event = stripe_event("payment_intent.succeeded", intent_object("pi_2", "succeeded"))
    body, headers = signed(event, SECRET)
    now = int(time.time())
    if case == "wrong_secret":
        body, headers = signed(event, "whsec_someone_else")
    elif case == "stale":
        body, headers = signed(event, SECRET, timestamp=now - 301)
    elif case == "future":
        body, headers = signed(event, SECRET, timestamp=now + 30 * 24 * 3600)
    elif case == "just_too_far_ahead":
        body, headers = signed(event, SECRET, timestamp=now + 330)  # a few seconds of slack
    elif case == "missing_header":
        del headers["Stripe-Signature"]
    elif case == "malformed_header":
        headers["Stripe-Signature"] = "this is not a signature"
    elif case == "timestamp_not_a_number":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("t=", "t=soon")
    elif case == "no_v1_signature":
        headers["Stripe-Signature"] = headers["Stripe-Signature"].replace("v1=", "v0=")
    elif case == "tampered_body":
        body = body.replace(b"2599", b"1")
    elif case == "not_json":
        body, headers = signed(b"{not json", SECRET)
    elif case == "not_an_event":
        body, headers = signed(b'{"id": 3, "data": []}', SECRET)
    return body, headers


async def _signature_audits(rt: Runtime) -> list[Any]:
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["webhook_signature_failed"]))
    return rows


@pytest.mark.parametrize(
    "case",
    [
        "wrong_secret",
        "stale",
        "future",
        "missing_header",
        "malformed_header",
        "timestamp_not_a_number",
        "no_v1_signature",
        "tampered_body",
    ],
)
async def test_every_failed_signature_is_audited_with_its_reason(
    api: Api, rt: Runtime, case: str
) -> None:
    body, headers = _delivery(case)
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 401, response.text
    [row] = await _signature_audits(rt)
    assert row.meta == {"webhook": "stripe", "reason": error_code(response)}
    assert row.ip_address == "127.0.0.1" and row.entity_id == "127.0.0.1"


@pytest.mark.parametrize("case", ["good", "not_json", "not_an_event"])
async def test_a_correctly_signed_delivery_writes_no_signature_audit(
    api: Api, rt: Runtime, case: str
) -> None:
    body, headers = _delivery(case)
    await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert await _signature_audits(rt) == []


@pytest.mark.parametrize("offset", [-280, 280])
async def test_timestamp_within_five_minutes_either_way_is_accepted(api: Api, offset: int) -> None:
    event = stripe_event("charge.succeeded", {"id": "ch_2"})
    body, headers = signed(event, SECRET, timestamp=int(time.time()) + offset)
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "event_type"),
    [
        ("payment-succeeded", "payment_intent.succeeded"),
        ("payment-failed", "payment_intent.payment_failed"),
        ("invoice-paid", "invoice.paid"),
        ("subscription-updated", "customer.subscription.updated"),
    ],
)
async def test_dedicated_paths_take_their_own_event_type_only(
    api: Api, rt: Runtime, path: str, event_type: str
) -> None:
    own, own_headers = signed(stripe_event(event_type, {"id": "obj_1"}), SECRET)
    ok = await api.post(f"/api/webhooks/stripe/{path}", content=own, headers=own_headers)
    assert ok.status_code == 200, ok.text
    other, other_headers = signed(stripe_event("charge.refunded", {"id": "ch_3"}), SECRET)
    wrong = await api.post(f"/api/webhooks/stripe/{path}", content=other, headers=other_headers)
    assert wrong.status_code == 400
    assert error_code(wrong) == "webhook_event_unexpected"
    assert [r.type for r in await webhook_rows(rt)] == [event_type]


async def test_failed_after_succeeded_never_undoes_the_success(api: Api, rt: Runtime) -> None:
    gateway: SandboxGateway = api.client._transport.app.state.gateway  # type: ignore[attr-defined]
    intent = await gateway.create_payment_intent(
        CreateIntent(amount=2599, currency="USD", idempotency_key="chk_ooo:1:pay")
    )
    async with rt.db.transaction() as s:
        await record_attempt(
            s, keys=AttemptKeys("chk_ooo"), gateway="sandbox", intent=intent, now=rt.clock.now()
        )
    assert await attempt_status(rt, intent.id) == "requires_payment_method"
    # The payment really succeeds (a webhook's own copy of the intent moves nothing: the
    # intake reads the intent from the gateway); then a stale failure arrives late.
    await gateway.confirm_payment_intent(
        intent.id, idempotency_key="chk_ooo:1:pay", payment_method_id="pm_card_visa"
    )
    succeeded = stripe_event("payment_intent.succeeded", intent_object(intent.id, "succeeded"))
    failed = stripe_event(
        "payment_intent.payment_failed",
        intent_object(
            intent.id,
            "requires_payment_method",
            last_payment_error={"code": "card_declined", "message": "Declined."},
        ),
    )
    for event in (succeeded, failed):
        body, headers = signed(event, SECRET)
        response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200
    assert await attempt_status(rt, intent.id) == "succeeded"


async def test_sandbox_delivers_its_signed_events_into_the_intake(api: Api, rt: Runtime) -> None:
    gateway: SandboxGateway = api.client._transport.app.state.gateway  # type: ignore[attr-defined]
    intent = await gateway.create_payment_intent(
        CreateIntent(amount=1500, currency="USD", idempotency_key="chk_sbx:1:pay")
    )
    async with rt.db.transaction() as s:
        await record_attempt(
            s, keys=AttemptKeys("chk_sbx"), gateway="sandbox", intent=intent, now=rt.clock.now()
        )
    result = await gateway.confirm_payment_intent(
        intent.id, idempotency_key="chk_sbx:1:pay", payment_method_id="pm_card_visa"
    )
    assert result.status is IntentStatus.succeeded
    await gateway.drain()
    assert await attempt_status(rt, intent.id) == "succeeded"
    types = {r.type for r in await webhook_rows(rt)}
    assert {"payment_intent.created", "payment_intent.succeeded"} <= types


class TestAllowList:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"sandbox_webhook_secret": SECRET, "webhook_allowed_ips": ["10.0.0.0/8"]}

    async def test_webhook_from_outside_the_allow_list_is_refused(
        self, api: Api, rt: Runtime
    ) -> None:
        body, headers = signed(stripe_event("charge.succeeded", {"id": "ch_4"}), SECRET)
        response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 403
        assert error_code(response) == "webhook_source_forbidden"
        assert await webhook_rows(rt) == []


class TestAllowListIncludingLoopback:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"sandbox_webhook_secret": SECRET, "webhook_allowed_ips": ["127.0.0.0/8"]}

    async def test_webhook_from_an_allowed_network_is_taken(self, api: Api) -> None:
        body, headers = signed(stripe_event("charge.succeeded", {"id": "ch_5"}), SECRET)
        response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200


async def test_payment_config_lists_methods_from_settings(api: Api) -> None:
    response = await api.get("/api/payment/config")
    assert response.status_code == 200
    body = response.json()
    assert body["gateway"] == "sandbox" and body["publishable_key"] is None
    enabled = {m["type"] for m in body["methods"] if m["enabled"]}
    assert enabled == {"card", "digital_wallet"}
    disabled = {m["type"] for m in body["methods"] if not m["enabled"]}
    assert disabled == {"bank_transfer", "buy_now_pay_later"}


class TestSignatureFloodIsBoundedByTheRateLimit:
    """The per-address ceiling refuses a flood past it (those refusals audited once per
    window); the failed signatures under it write one audit row per address and minute."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"sandbox_webhook_secret": SECRET, "rate_limit_per_address": "3/15 minutes"}

    async def test_a_flood_of_bad_signatures_writes_at_most_the_limit(
        self, new_api: Any, rt: Runtime
    ) -> None:
        attacker: Api = await new_api(start=False)
        statuses = []
        for _ in range(8):
            body, headers = _delivery("wrong_secret")
            response = await attacker.post("/api/webhooks/stripe", content=body, headers=headers)
            statuses.append(response.status_code)
        assert statuses == [401] * 3 + [429] * 5
        assert len(await _signature_audits(rt)) == 1
        limited, _ = await query_logs(rt, AuditLogFilters(event_types=["rate_limited"]))
        assert len(limited) == 1


class TestSignatureFloodWritesBoundedAuditRows:
    """Under the per-address ceiling, a flood of forged signatures writes one audit row per
    source address and minute, however many arrive, and every one is still refused."""

    @pytest.fixture(params=["memory", "redis"])
    def settings_overrides(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        values: dict[str, Any] = {
            "sandbox_webhook_secret": SECRET,
            "inventory_webhook_secret": "whsec_test_inventory_secret_0000000000",
        }
        if request.param == "redis":
            values["redis_url"] = request.getfixturevalue("redis_url")
        return values

    async def test_200_bad_stripe_signatures_write_one_row(self, new_api: Any, rt: Runtime) -> None:
        attacker: Api = await new_api(start=False)
        codes = set()
        for _ in range(200):
            body, headers = _delivery("wrong_secret")
            response = await attacker.post("/api/webhooks/stripe", content=body, headers=headers)
            codes.add((response.status_code, error_code(response)))
        assert codes == {(401, "webhook_signature_invalid")}
        [row] = await _signature_audits(rt)
        assert row.meta == {"webhook": "stripe", "reason": "webhook_signature_invalid"}

    async def test_200_bad_inventory_signatures_write_one_row(
        self, new_api: Any, rt: Runtime
    ) -> None:
        attacker: Api = await new_api(start=False)
        codes = set()
        for _ in range(200):
            headers = {"X-Inventory-Signature": "t=1,v1=00", "X-Inventory-Timestamp": "1"}
            response = await attacker.post(
                "/api/inventory/webhook", json={"updates": []}, headers=headers
            )
            codes.add(response.status_code)
        assert len(codes) == 1 and codes <= {400, 401}
        [row] = await _signature_audits(rt)
        assert row.meta["webhook"] == "inventory"


async def test_the_next_row_counts_the_failures_it_left_out(
    new_api: Any, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A minute later the next failure is written, saying how many were left out."""
    import tillpoint.security.ratelimit as ratelimit

    now = [time.time()]
    monkeypatch.setattr(ratelimit, "time", type("T", (), {"time": staticmethod(lambda: now[0])}))
    attacker: Api = await new_api(start=False)

    async def forge() -> None:
        body, headers = _delivery("wrong_secret")
        response = await attacker.post("/api/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 401

    for _ in range(30):
        await forge()
    now[0] += 61
    await forge()
    rows = sorted(await _signature_audits(rt), key=lambda r: r.meta.get("left_out", 0))
    assert [r.meta.get("left_out") for r in rows] == [None, 29]
