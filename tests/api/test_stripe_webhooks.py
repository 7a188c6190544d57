"""Stripe mode: localstripe delivers signed webhooks to a live uvicorn serving our app,
and secret rotation accepts the current and the previous secret at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from tests.localstripe_server import LocalStripe, free_port
from tests.payment_support import attempt_status, signed, stripe_event, webhook_rows
from tests.stripe_fixtures import PREVIOUS_SECRET, WEBHOOK_SECRET, stripe_settings
from tests.support import Api, error_code
from tillpoint.audit.queries import AuditLogFilters, query_logs
from tillpoint.payments.attempts import record_attempt
from tillpoint.payments.gateway import CreateIntent, IntentStatus
from tillpoint.payments.stripe_gateway import StripeGateway
from tillpoint.payments.velocity import AttemptKeys
from tillpoint.runtime import Runtime

pytestmark = pytest.mark.stripe


@pytest.fixture
def settings_overrides(localstripe: LocalStripe) -> dict[str, Any]:
    return stripe_settings(localstripe.url)


@pytest.fixture
async def live_url(app: Any) -> AsyncIterator[str]:
    """Our app served by uvicorn on a free loopback port, in this test's event loop."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn has no start-up event
            await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)


async def _eventually(check: Any, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


async def test_localstripe_signed_webhook_reaches_live_app_and_updates_the_attempt(
    app: Any, rt: Runtime, localstripe: LocalStripe, live_url: str
) -> None:
    gateway: StripeGateway = app.state.gateway
    assert isinstance(gateway, StripeGateway)
    localstripe.register_webhook("tillpoint", f"{live_url}/api/webhooks/stripe", WEBHOOK_SECRET)
    intent = await gateway.create_payment_intent(
        CreateIntent(amount=3300, currency="USD", idempotency_key="chk_live:1:pay")
    )
    async with rt.db.transaction() as s:
        await record_attempt(
            s, keys=AttemptKeys("chk_live"), gateway="stripe", intent=intent, now=rt.clock.now()
        )
    confirmed = await gateway.confirm_payment_intent(
        intent.id, idempotency_key="chk_live:1:pay", payment_method_id="pm_card_visa"
    )
    assert confirmed.status is IntentStatus.succeeded

    async def updated_and_recorded() -> bool:
        # The applier updates the attempt first, then the event is recorded as processed
        # in its own transaction: wait for both (checking only the first raced the second).
        return await attempt_status(rt, intent.id) == "succeeded" and bool(await ours())

    async def ours() -> list[Any]:
        # Only this intent's events: localstripe lives for the whole test session and may
        # still be posting an earlier test's event to the URL registered now (seen once).
        rows = await webhook_rows(rt)
        return [
            r for r in rows if r.type == "payment_intent.succeeded" and r.object_id == intent.id
        ]

    await _eventually(updated_and_recorded)
    rows = await ours()
    assert len(rows) == 1
    assert rows[0].gateway == "stripe"


async def test_localstripe_failed_payment_webhook_records_the_decline(
    app: Any, rt: Runtime, localstripe: LocalStripe, live_url: str
) -> None:
    gateway: StripeGateway = app.state.gateway
    localstripe.register_webhook(
        "tillpoint", f"{live_url}/api/webhooks/stripe/payment-failed", WEBHOOK_SECRET
    )
    intent = await gateway.create_payment_intent(
        CreateIntent(amount=3300, currency="USD", idempotency_key="chk_fail:1:pay")
    )
    async with rt.db.transaction() as s:
        await record_attempt(
            s, keys=AttemptKeys("chk_fail"), gateway="stripe", intent=intent, now=rt.clock.now()
        )
    result = await gateway.confirm_payment_intent(
        intent.id, idempotency_key="chk_fail:1:pay", payment_method_id="pm_card_chargeCustomerFail"
    )
    assert result.declined

    async def recorded() -> bool:
        return any(
            r.type == "payment_intent.payment_failed" and r.object_id == intent.id
            for r in await webhook_rows(rt)
        )

    await _eventually(recorded)
    assert await attempt_status(rt, intent.id) == "requires_payment_method"


@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, PREVIOUS_SECRET])
async def test_current_and_previous_secret_are_both_accepted(api: Api, secret: str) -> None:
    body, headers = signed(stripe_event("charge.succeeded", {"id": "ch_rot"}), secret)
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_retired_secret_is_refused(api: Api, rt: Runtime) -> None:
    body, headers = signed(stripe_event("charge.succeeded", {"id": "ch_old"}), "whsec_retired")
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "webhook_signature_invalid"
    assert await webhook_rows(rt) == []


@pytest.mark.parametrize(
    ("offset", "code"),
    [(30 * 24 * 3600, "webhook_timestamp_future"), (-301, "webhook_timestamp_stale")],
)
async def test_a_timestamp_outside_five_minutes_either_way_is_refused_and_audited(
    api: Api, rt: Runtime, offset: int, code: str
) -> None:
    event = stripe_event("charge.succeeded", {"id": "ch_when"})
    body, headers = signed(event, WEBHOOK_SECRET, timestamp=int(time.time()) + offset)
    response = await api.post("/api/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 401 and error_code(response) == code
    assert await webhook_rows(rt) == []
    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["webhook_signature_failed"]))
    assert [r.meta for r in rows] == [{"webhook": "stripe", "reason": code}]


async def test_payment_config_gives_stripe_js_the_publishable_key(api: Api) -> None:
    body = (await api.get("/api/payment/config")).json()
    assert body["gateway"] == "stripe"
    assert body["publishable_key"] == "pk_test_primary_12345"
