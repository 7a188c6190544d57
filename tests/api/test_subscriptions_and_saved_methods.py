"""Subscription records kept by webhooks, and saved payment methods for registered users."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from tests.payment_support import signed, stripe_event
from tests.support import Api, error_code
from tillpoint.orders.models import SubscriptionRecord
from tillpoint.runtime import Runtime

SECRET = "whsec_sandbox_subs"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sandbox_webhook_secret": SECRET}


async def _record(rt: Runtime, sub_id: str) -> SubscriptionRecord | None:
    async with rt.db.transaction() as s:
        return await s.scalar(
            select(SubscriptionRecord).where(SubscriptionRecord.gateway_subscription_id == sub_id)
        )


async def _send(api: Api, path: str, event: dict[str, Any]) -> None:
    body, headers = signed(event, SECRET)
    response = await api.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text


def _sub(status: str, period_end: int) -> dict[str, Any]:
    return {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
            "current_period_end": period_end}  # fmt: skip


async def test_subscription_updates_keep_the_record_and_ignore_older_snapshots(
    api: Api, rt: Runtime
) -> None:
    now = int(time.time())
    newer = stripe_event("customer.subscription.updated", _sub("past_due", now + 100))
    older = stripe_event("customer.subscription.updated", _sub("active", now + 50))
    older["created"] = newer["created"] - 60
    await _send(api, "/api/webhooks/stripe/subscription-updated", newer)
    await _send(api, "/api/webhooks/stripe/subscription-updated", older)
    row = await _record(rt, "sub_1")
    assert row is not None
    assert row.status == "past_due" and row.current_period_end is not None
    assert int(row.current_period_end.timestamp()) == now + 100


async def test_each_paid_invoice_counts_once_and_reactivates(api: Api, rt: Runtime) -> None:
    await _send(
        api, "/api/webhooks/stripe", stripe_event("customer.subscription.created",
                                                  _sub("incomplete", int(time.time()))),
    )  # fmt: skip
    invoice = stripe_event(
        "invoice.paid",
        {"id": "in_1", "object": "invoice", "subscription": "sub_1", "customer": "cus_1"},
    )
    await _send(api, "/api/webhooks/stripe/invoice-paid", invoice)
    await _send(api, "/api/webhooks/stripe/invoice-paid", invoice)  # replay
    row = await _record(rt, "sub_1")
    assert row is not None
    assert (row.status, row.paid_invoices, row.latest_invoice_id) == ("active", 1, "in_1")


async def test_deleted_subscription_is_canceled(api: Api, rt: Runtime) -> None:
    await _send(
        api, "/api/webhooks/stripe",
        stripe_event("customer.subscription.deleted", _sub("canceled", int(time.time()))),
    )  # fmt: skip
    row = await _record(rt, "sub_1")
    assert row is not None and row.status == "canceled"


async def _mismatch_audits(rt: Runtime) -> list[Any]:
    from tillpoint.audit.queries import AuditLogFilters, query_logs

    rows, _ = await query_logs(rt, AuditLogFilters(event_types=["webhook_subscription_mismatch"]))
    return rows


@pytest.mark.parametrize(
    "event_type", ["customer.subscription.updated", "customer.subscription.deleted"]
)
async def test_a_subscription_event_for_another_customer_changes_nothing(
    api: Api, rt: Runtime, event_type: str
) -> None:
    """Our row says sub_1 is cus_1's: an event naming sub_1 with cus_2 is not about it."""
    now = int(time.time())
    created = stripe_event("customer.subscription.created", _sub("active", now + 100))
    await _send(api, "/api/webhooks/stripe", created)
    other = {**_sub("canceled", now + 999), "customer": "cus_2"}
    event = stripe_event(event_type, other)
    await _send(api, "/api/webhooks/stripe", event)
    row = await _record(rt, "sub_1")
    assert row is not None
    assert (row.status, row.gateway_customer_id) == ("active", "cus_1")
    assert row.current_period_end is not None
    assert int(row.current_period_end.timestamp()) == now + 100
    [audit] = await _mismatch_audits(rt)
    assert audit.entity_type == "subscription" and audit.entity_id == row.id
    assert audit.meta["event_id"] == event["id"] and audit.meta["type"] == event_type


async def test_an_invoice_for_another_customer_changes_nothing(api: Api, rt: Runtime) -> None:
    await _send(api, "/api/webhooks/stripe", stripe_event(
        "customer.subscription.created", _sub("past_due", int(time.time()))))  # fmt: skip
    invoice = stripe_event(
        "invoice.paid",
        {"id": "in_x", "object": "invoice", "subscription": "sub_1", "customer": "cus_2"},
    )
    await _send(api, "/api/webhooks/stripe/invoice-paid", invoice)
    row = await _record(rt, "sub_1")
    assert row is not None
    assert (row.status, row.paid_invoices, row.latest_invoice_id) == ("past_due", 0, None)
    assert len(await _mismatch_audits(rt)) == 1


async def test_saved_methods_for_a_registered_user(user_api: Api) -> None:
    assert (await user_api.get("/api/payment/methods")).json()["items"] == []
    setup = await user_api.post("/api/payment/setup-intent")
    assert setup.status_code == 201 and setup.json()["client_secret"]
    saved = await user_api.post("/api/payment/methods", json={"payment_method_id": "pm_card_visa"})
    assert saved.status_code == 201, saved.text
    assert saved.json()["last4"] == "4242"
    listed = (await user_api.get("/api/payment/methods")).json()["items"]
    assert [m["id"] for m in listed] == ["pm_card_visa"]
    assert "fingerprint" not in listed[0]
    gone = await user_api.delete("/api/payment/methods/pm_card_visa")
    assert gone.status_code == 204
    assert (await user_api.get("/api/payment/methods")).json()["items"] == []
    again = await user_api.delete("/api/payment/methods/pm_card_visa")
    assert error_code(again) == "payment_method_not_found"


async def test_a_card_declined_on_save_is_402(user_api: Api) -> None:
    r = await user_api.post(
        "/api/payment/methods", json={"payment_method_id": "pm_card_visa_chargeDeclined"}
    )
    assert r.status_code == 402
    assert error_code(r) == "payment_method_declined"


async def test_guests_have_no_saved_methods(api: Api) -> None:
    assert error_code(await api.get("/api/payment/methods")) == "login_required"
    r = await api.post("/api/payment/methods", json={"payment_method_id": "pm_card_visa"})
    assert error_code(r) == "login_required"


async def test_saving_an_unknown_payment_method_is_a_422_with_the_field(user_api: Api) -> None:
    r = await user_api.post("/api/payment/methods", json={"payment_method_id": "pm_" + "0" * 40})
    assert r.status_code == 422 and error_code(r) == "payment_method_not_found", r.text
    assert r.json()["error"]["fields"][0]["path"] == ["payment_method_id"]


async def test_a_customer_the_gateway_lost_is_made_again_not_a_502(
    user_api: Api, rt: Runtime
) -> None:
    # The sandbox keeps customers in memory, Stripe per account: after a restart or an
    # account switch the customer id we kept names nobody there.
    from tillpoint.payments.models import PaymentCustomer

    assert (await user_api.get("/api/payment/methods")).status_code == 200
    async with rt.db.transaction() as s:
        kept = (await s.scalars(select(PaymentCustomer))).one()
        kept.customer_id = "cus_gone_missing_here"
    r = await user_api.get("/api/payment/methods")
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    saved = await user_api.post("/api/payment/methods", json={"payment_method_id": "pm_card_visa"})
    assert saved.status_code == 201, saved.text
    assert (await user_api.post("/api/payment/setup-intent")).status_code == 201
    async with rt.db.transaction() as s:
        assert (
            await s.scalars(select(PaymentCustomer))
        ).one().customer_id != "cus_gone_missing_here"
