"""The order insert writes the draft's rows and answers what it wrote, and a taken order
number makes it try another instead of failing the order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tillpoint.orders import service
from tillpoint.orders.models import Order
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.payments.sandbox import SandboxGateway
from tillpoint.runtime import Runtime


def _draft(checkout_id: str) -> OrderDraft:
    lines = (
        LineDraft("prod_a", None, "Tea", 2, 3000, 6000, 600, 432, 5832, sku="TEA"),
        LineDraft("prod_b", "var_b", "Mug — Blue", 1, 2000, 2000, 200, 144, 1944,
                  recurring={"interval": "month"}),
    )  # fmt: skip
    return OrderDraft(
        checkout_id=checkout_id, currency="USD", subtotal=8000, discount_total=800,
        shipping_total=500, tax_total=616, total=8316, lines=lines, shipping_paid=540,
        email="a@example.com", shipping_address={"country": "US"},
        meta={"attempt": 1, "promotions": []},
    )  # fmt: skip


def _shape(order: Order) -> dict[str, Any]:
    """An order's stored content, less what is new per order (ids, number, token)."""
    skip = {"id", "number", "checkout_id", "payment_intent_id", "access_token_hash"}
    row = {c.key: getattr(order, c.key) for c in Order.__mapper__.column_attrs}
    lines = [
        {c.key: getattr(ln, c.key) for c in ln.__mapper__.column_attrs if c.key not in skip}
        for ln in order.lines
    ]
    for ln in lines:
        ln.pop("order_id")
    payments = [
        {c.key: getattr(p, c.key) for c in p.__mapper__.column_attrs} for p in order.payments
    ]
    for p in payments:
        for key in ("id", "order_id", "payment_intent_id"):
            p.pop(key)
    return {
        **{k: v for k, v in row.items() if k not in skip},
        "lines": lines,
        "payments": payments,
    }


async def test_the_inserted_order_is_the_stored_order(rt: Runtime) -> None:
    gateway = SandboxGateway("whsec_t")
    intent = await gateway.create_payment_intent(
        CreateIntent(amount=8316, currency="USD", idempotency_key="k",
                     payment_method_id="pm_card_visa", confirm=True)
    )  # fmt: skip
    async with rt.db.transaction() as s:
        made = await insert_order_rows(
            s, rt.settings, _draft("chk_1"), intent, gateway="sandbox",
            held_for_review=False, now=rt.clock.now(),
        )  # fmt: skip
    async with rt.db.transaction() as s:
        order = await s.scalar(select(Order).where(Order.id == made.id))
        assert order is not None and order.number == made.number
        stored = _shape(order)
    answered = (made.status, made.email, made.total, made.currency)
    assert answered == (order.status, order.email, order.total, order.currency)
    assert (stored["total"], stored["tax_total"], stored["discount_total"]) == (8316, 616, 800)
    assert [(ln["name"], ln["quantity"], ln["total"]) for ln in stored["lines"]] == [
        ("Tea", 2, 5832),
        ("Mug — Blue", 1, 1944),
    ]
    assert [(p["amount"], p["status"]) for p in stored["payments"]] == [(8316, "succeeded")]


async def test_a_taken_order_number_is_skipped(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = SandboxGateway("whsec_t")
    numbers = iter(["TP-AAAA-0001", "TP-AAAA-0001", "TP-AAAA-0002"])
    monkeypatch.setattr(service, "new_order_number", lambda: next(numbers))
    made = []
    for n in range(2):
        intent = await gateway.create_payment_intent(
            CreateIntent(amount=8316, currency="USD", idempotency_key=f"n{n}",
                         payment_method_id="pm_card_visa", confirm=True)
        )  # fmt: skip
        async with rt.db.transaction() as s:
            inserted = await insert_order_rows(
                s, rt.settings, _draft(f"chk_n{n}"), intent, gateway="sandbox",
                held_for_review=True, now=rt.clock.now(),
            )  # fmt: skip
        made.append(inserted)
    assert [m.number for m in made] == ["TP-AAAA-0001", "TP-AAAA-0002"]
    assert made[1].status == "held_for_review"
