"""The machine's actions that only update the checkout context (pure, on a copy).

The service passes ``data``: the event's payload after validation and normalisation
(e.g. the standardised address). Actions not listed here have side effects and run
the handlers of the composition root's table (``bootstrap.ACTION_HANDLERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from tillpoint.checkout.context import (
    AddressCheck,
    CheckoutContext,
    ContextAddress,
    ContextGuest,
    PaymentMethodSummary,
    ShippingChoice,
)

Context = CheckoutContext
_P = TypeVar("_P", bound=BaseModel)
Action = Callable[[CheckoutContext, dict[str, Any]], None]


def new_context(*, cart_id: str, currency: str) -> CheckoutContext:
    """The context of a checkout that was just started (the seed's CheckoutContext).
    Every key is set, so every one is stored (as null until it is known)."""
    return CheckoutContext(
        user_type="unknown",
        user_id=None,
        cart_id=cart_id,
        currency=currency,
        guest_info=None,
        shipping_address=None,
        billing_address=None,
        address_validation=None,
        shipping_method=None,
        payment_method=None,
        payment=None,
        quoted_totals=None,
        errors=[],
    )


def _or_none(model: type[_P], raw: Any) -> _P | None:
    return None if raw is None else model.model_validate(raw)


def set_user_type(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    ctx.user_type = data["user_type"]
    ctx.user_id = data.get("user_id")
    if data["user_type"] == "registered":
        ctx.guest_info = None


def save_guest_info(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    ctx.guest_info = _or_none(ContextGuest, data["guest_info"])


def save_shipping_address(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    address = _or_none(ContextAddress, data["address"])
    if _json(ctx.shipping_address) != _json(address):
        # A different destination may not be offered the method chosen before.
        ctx.shipping_method = None
    ctx.shipping_address = address
    ctx.address_validation = _or_none(AddressCheck, data.get("validation"))


def copy_shipping_to_billing(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    shipping = ctx.shipping_address
    ctx.billing_address = None if shipping is None else shipping.model_copy(deep=True)


def save_billing_address(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    ctx.billing_address = _or_none(ContextAddress, data["address"])


def save_shipping_method(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    ctx.shipping_method = _or_none(ShippingChoice, data["shipping_method"])


def save_payment_method(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    # Only the method's summary: never card numbers (they go browser → Stripe).
    ctx.payment_method = _or_none(PaymentMethodSummary, data["payment_method"])


def keep_context(ctx: CheckoutContext, data: dict[str, Any]) -> None:
    """Nothing to copy into the context: ``updateCartItems`` and ``applyCoupon`` (the cart's
    own API changed its lines or coupons) and ``mergeGuestCart`` (login merged the carts;
    the step follows the session's cart) leave the cart as truth, and every step re-reads
    and re-prices it."""


def _json(part: ContextAddress | None) -> dict[str, Any] | None:
    """A part as stored (only its loaded or set keys): compares like the stored JSON."""
    return None if part is None else part.model_dump(mode="json", exclude_unset=True)


ACTIONS: dict[str, Action] = {
    "updateCartItems": keep_context,
    "applyCoupon": keep_context,
    "mergeGuestCart": keep_context,
    "setUserType": set_user_type,
    "saveGuestInfo": save_guest_info,
    "saveShippingAddress": save_shipping_address,
    "copyShippingToBilling": copy_shipping_to_billing,
    "saveBillingAddress": save_billing_address,
    "saveShippingMethod": save_shipping_method,
    "savePaymentMethod": save_payment_method,
}


def apply_actions(
    ctx: CheckoutContext, names: tuple[str, ...], data: dict[str, Any]
) -> CheckoutContext:
    """A new context with the pure actions among ``names`` applied in order. It shares
    nested values with ``ctx``: neither is changed below the top level, ever."""
    # Actions (and the effects after them) replace top-level parts and never change a
    # nested value in place, so a shallow copy leaves ``ctx`` as it was.
    out = ctx.model_copy()
    for name in names:
        action = ACTIONS.get(name)
        if action is not None:
            action(out, data)
    return out
