"""Checkout event commands: the typed body of ``POST /api/checkout/{id}/events``.

The router validates the body into one of these (a union discriminated by ``type``) and
hands that same object to :func:`tillpoint.checkout.service.send_event`; nothing is
dumped to a dict and validated again. Events the server raises (gateway answers,
verified webhooks, the sweeper) travel as :class:`ServerEvent` with the facts they carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tillpoint.addresses.public import Address, GuestInfo
from tillpoint.checkout.machine import Event


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=2000)


SimpleType = Literal[
    "UPDATE_CART",
    "APPLY_COUPON",
    "SELECT_GUEST",
    "SELECT_REGISTERED",
    "LOGIN_REQUIRED",
    "LOGIN_SUCCEEDED",
    "USE_SHIPPING_ADDRESS",
    "EDIT_CONTACT",
    "EDIT_SHIPPING",
    "EDIT_BILLING",
    "EDIT_PAYMENT",
    "CONFIRM_ORDER",
    "RETRY_PAYMENT",
    "CHANGE_PAYMENT_METHOD",
    "ACTION_COMPLETED",
    "PROCEED_TO_CONFIRMATION",
    "PROCEED_TO_CHECKOUT",
]


class SimpleEvent(_Command):
    """An event without fields."""

    type: SimpleType


class ServerOnlyEvent(_Command):
    """Raised by the server only (gateway answers, verified webhooks): clients get 403."""

    type: Literal[
        "PAYMENT_SUCCESS",
        "PAYMENT_FAILURE",
        "PAYMENT_REQUIRES_ACTION",
        "PAYMENT_REFUNDED",
        "EXPIRE",
    ]


class GuestInfoEvent(GuestInfo):
    type: Literal["SUBMIT_GUEST_INFO"]


class AddressEvent(_Command):
    """SUBMIT_SHIPPING / SUBMIT_BILLING, or USE_BILLING_AS_SHIPPING (one address for both)."""

    type: Literal["SUBMIT_SHIPPING", "SUBMIT_BILLING", "USE_BILLING_AS_SHIPPING"]
    address: Address


class ShippingEvent(_Command):
    type: Literal["SELECT_SHIPPING"]
    shipping_method_id: str = Field(min_length=1, max_length=100)


class CardMethod(_Command):
    """A card Stripe.js made into a PaymentMethod (``pm_``) in the browser, or a
    tokenised card's id (``card_``, what a Stripe.js stand-in without
    ``createPaymentMethod`` gives); card data never reaches us."""

    type: Literal["card"]
    payment_method_id: str = Field(pattern=r"^(pm|card)_[A-Za-z0-9_]{3,100}$")


class SavedMethod(_Command):
    """A payment method the logged-in customer saved before."""

    type: Literal["saved"]
    saved_method_id: str = Field(pattern=r"^[a-z]{2,6}_[0-9A-Za-z_]{3,100}$")


class PaymentEvent(_Command):
    type: Literal["SELECT_PAYMENT"]
    payment_method: Annotated[CardMethod | SavedMethod, Field(discriminator="type")]


CheckoutCommand = Annotated[
    SimpleEvent | ServerOnlyEvent | GuestInfoEvent | AddressEvent | ShippingEvent | PaymentEvent,
    Field(discriminator="type"),
]


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """An event the server decided, with the facts its effects read (e.g. the intent)."""

    type: Event
    payload: dict[str, Any] = field(default_factory=dict)


ClientCommand = (
    SimpleEvent | ServerOnlyEvent | GuestInfoEvent | AddressEvent | ShippingEvent | PaymentEvent
)
Command = ClientCommand | ServerEvent


def event_of(command: Command) -> Event:
    """The machine event a command drives."""
    return Event(command.type)
