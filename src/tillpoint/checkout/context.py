"""The checkout's context as a typed model (:class:`CheckoutContext`).

It is stored as JSON in ``checkouts.context`` and answered in the API. Every part
allows keys it does not name and every named key is optional, so a row written by
older code always loads; :meth:`CheckoutContext.dump` writes back only the keys that
were loaded or set, so what is stored keeps its shape (same keys, same nulls).
Money is integer minor units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


class _Part(BaseModel):
    """A lenient part: unknown keys are kept, nothing is required."""

    model_config = ConfigDict(extra="allow")

    def updated(self, changes: Mapping[str, Any]) -> Self:
        """A copy with ``changes`` validated in; its other keys stay as they were."""
        return self.model_validate({**self.model_dump(exclude_unset=True), **changes})


def stored(part: BaseModel | None) -> dict[str, Any] | None:
    """A part as it is stored and answered (only its loaded or set keys), or None."""
    return None if part is None else part.model_dump(mode="json", exclude_unset=True)


class ContextGuest(_Part):
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    marketing_consent: bool | None = None


class ContextAddress(_Part):
    first_name: str | None = None
    last_name: str | None = None
    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None
    phone: str | None = None


class AddressCheck(_Part):
    """The address service's answer (its confidence stays as stored, not typed)."""

    is_valid: bool | None = None
    source: str | None = None


class ShippingChoice(_Part):
    id: str | None = None
    name: str | None = None
    cost: int | None = None
    currency: str | None = None
    carrier: str | None = None
    service_type: str | None = None


class PaymentMethodSummary(_Part):
    """Only the method's summary: never card numbers (they go browser → Stripe)."""

    type: str | None = None
    payment_method_id: str | None = None
    saved_method_id: str | None = None


class PaymentError(_Part):
    code: str | None = None
    message: str | None = None


class Payment(_Part):
    """The current payment intent's summary."""

    intent_id: str | None = None
    account: str | None = None
    status: str | None = None
    client_secret: str | None = None
    next_action: dict[str, Any] | None = None
    risk_level: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    error: PaymentError | None = None
    attempt: int | None = None
    gateway: str | None = None
    amount: int | None = None
    currency: str | None = None
    totals: dict[str, Any] | None = None
    refund: dict[str, Any] | None = None


class Reservation(_Part):
    """The stock held for this checkout."""

    id: str | None = None
    attempt: int | None = None
    cart_version: int | None = None
    expires_at: str | None = None


class OrderRef(_Part):
    id: str | None = None
    number: str | None = None
    status: str | None = None
    recurring: bool | None = None


class CheckoutContext(_Part):
    """What a checkout has gathered so far (the seed's CheckoutContext)."""

    user_type: str = "unknown"
    user_id: str | None = None
    cart_id: str | None = None
    currency: str | None = None
    guest_info: ContextGuest | None = None
    shipping_address: ContextAddress | None = None
    billing_address: ContextAddress | None = None
    address_validation: AddressCheck | None = None
    shipping_method: ShippingChoice | None = None
    payment_method: PaymentMethodSummary | None = None
    payment: Payment | None = None
    reservation: Reservation | None = None
    order: OrderRef | None = None
    # The shopper's locale when the checkout started (Babel's pick from Accept-Language):
    # the order's e-mails format money in it.
    locale: str | None = None
    # What the customer was shown: (subtotal, discount, shipping, tax, total).
    quoted_totals: list[int] | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def load(cls, raw: dict[str, Any] | None) -> CheckoutContext:
        """The context of a stored row (any JSON the old code wrote)."""
        return cls.model_validate(raw or {})

    def dump(self) -> dict[str, Any]:
        """The JSON to store: only keys loaded or set, so the stored shape is kept."""
        return self.model_dump(mode="json", exclude_unset=True)
