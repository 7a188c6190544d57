"""Helpers for payment tests: signing webhook bodies like Stripe and reading our tables."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from tillpoint.ids import new_id
from tillpoint.payments.models import PaymentAttempt, WebhookEventRecord
from tillpoint.payments.sandbox import sign_payload
from tillpoint.runtime import Runtime


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str | None = None
) -> dict[str, Any]:
    """A Stripe-shaped event envelope around ``obj``."""
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2024-06-20",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def intent_object(intent_id: str, status: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 2599,
        "currency": "usd",
        "status": status,
        "metadata": {},
    }
    obj.update(extra)
    return obj


def signed(
    event: dict[str, Any] | bytes, secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook delivery signed with ``secret``."""
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    return payload, {
        "Stripe-Signature": sign_payload(payload, secret, ts),
        "Content-Type": "application/json",
    }


async def webhook_rows(rt: Runtime) -> list[WebhookEventRecord]:
    async with rt.db.transaction() as s:
        return list((await s.execute(select(WebhookEventRecord))).scalars())


async def attempt_count(rt: Runtime) -> int:
    async with rt.db.transaction() as s:
        return int((await s.execute(select(func.count()).select_from(PaymentAttempt))).scalar_one())


async def attempt_status(rt: Runtime, intent_id: str) -> str | None:
    async with rt.db.transaction() as s:
        row = (
            await s.execute(
                select(PaymentAttempt.status).where(PaymentAttempt.payment_intent_id == intent_id)
            )
        ).scalar_one_or_none()
        return row


async def paid_order(
    rt: Runtime,
    gateway: Any,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    email: str = "buyer@example.com",
    checkout_id: str | None = None,
) -> Any:
    """A paid order through the real services: a sandbox payment, then ``insert_order_rows``.

    Lines: 2 x 3000 with a 600 discount share and 432 tax, 1 x 2000 with 200 and 144;
    shipping 500 + 40 tax. Total 8316.
    """
    from tillpoint.orders.models import Order
    from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
    from tillpoint.payments.gateway import CreateIntent

    checkout = checkout_id or new_id("chk")
    lines = (
        LineDraft("prod_a", None, "Tea", 2, 3000, 6000, 600, 432, 5832),
        LineDraft("prod_b", None, "Mug", 1, 2000, 2000, 200, 144, 1944),
    )
    total = 5832 + 1944 + 540
    intent = await gateway.create_payment_intent(
        CreateIntent(
            amount=total,
            currency="USD",
            idempotency_key=f"{checkout}:1:pay",
            payment_method_id="pm_card_visa",
            confirm=True,
        )
    )
    draft = OrderDraft(
        checkout_id=checkout, currency="USD", subtotal=8000, discount_total=800,
        shipping_total=500, tax_total=616, total=total, lines=lines, shipping_paid=540,
        session_id=session_id, user_id=user_id, email=email,
    )  # fmt: skip
    async with rt.db.transaction() as s:
        inserted = await insert_order_rows(
            s, rt.settings, draft, intent, gateway=gateway.name, held_for_review=False,
            now=rt.clock.now(),
        )  # fmt: skip
        order = await s.get(Order, inserted.id)
    return order
