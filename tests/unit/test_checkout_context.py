"""The typed checkout context keeps the stored JSON's shape (issue 19, point 3)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tillpoint.checkout.actions import new_context
from tillpoint.checkout.context import CheckoutContext

# A context as the old code wrote it: nulls, nested parts, keys the model does not name.
OLD_ROW: dict[str, Any] = {
    "user_type": "guest",
    "user_id": None,
    "cart_id": "cart_x",
    "currency": "USD",
    "guest_info": {"email": "a@example.com", "first_name": "A", "marketing_consent": False},
    "shipping_address": {"street1": "1 Main St", "street2": None, "country": "US"},
    "billing_address": None,
    "address_validation": {"is_valid": True, "confidence": 1, "suggestions": []},
    "shipping_method": {"id": "us:ground", "cost": 500, "estimate": None, "source": "table"},
    "payment_method": {"type": "card", "payment_method_id": "pm_card_visa"},
    "payment": {
        "intent_id": "pi_1",
        "status": "succeeded",
        "amount": 1099,
        "error": None,
        "next_action": None,
        "totals": {"total": 1099},
        "refund": None,
    },
    "reservation": {"id": "chk_1:r1", "attempt": 1, "cart_version": 3, "expires_at": "x"},
    "order": {"id": "ord_1", "number": "A-1", "recurring": False},
    "quoted_totals": [1000, 0, 99, 0, 1099],
    "errors": [{"code": "x", "message": "y"}],
    "marked": True,
}


@pytest.mark.parametrize(
    "raw",
    [OLD_ROW, {}, {"cart_id": "c"}, {"payment": {"intent": "pi_x"}}],
    ids=["full", "empty", "partial", "unknown-nested"],
)
def test_a_stored_context_loads_and_dumps_as_it_was(raw: dict[str, Any]) -> None:
    assert CheckoutContext.load(raw).dump() == raw


def test_the_parts_are_typed() -> None:
    ctx = CheckoutContext.load(OLD_ROW)
    assert ctx.payment is not None and ctx.payment.amount == 1099
    assert ctx.reservation is not None and ctx.reservation.cart_version == 3
    assert ctx.guest_info is not None and ctx.guest_info.email == "a@example.com"
    assert ctx.quoted_totals == [1000, 0, 99, 0, 1099]


def test_a_part_of_the_wrong_type_does_not_load() -> None:
    with pytest.raises(ValidationError):
        CheckoutContext.load({"payment": {"amount": "ten"}})


def test_a_new_context_stores_every_key() -> None:
    stored = new_context(cart_id="c", currency="EUR").dump()
    assert stored["cart_id"] == "c" and stored["errors"] == []
    assert stored["payment"] is None and "reservation" not in stored
