"""The machine's actions that only update the checkout context (pure, on a copy).

The service passes ``data``: the event's payload after validation and normalisation
(e.g. the standardised address). Actions not listed here have side effects and run
the handlers of the composition root's table (``bootstrap.ACTION_HANDLERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

Context = dict[str, Any]
Action = Callable[[Context, dict[str, Any]], None]


def new_context(*, cart_id: str, currency: str) -> Context:
    """The context of a checkout that was just started (the seed's CheckoutContext)."""
    return {
        "user_type": "unknown",
        "user_id": None,
        "cart_id": cart_id,
        "currency": currency,
        "guest_info": None,
        "shipping_address": None,
        "billing_address": None,
        "address_validation": None,
        "shipping_method": None,
        "payment_method": None,
        "payment": None,
        "quoted_totals": None,
        "errors": [],
    }


def set_user_type(ctx: Context, data: dict[str, Any]) -> None:
    ctx["user_type"] = data["user_type"]
    ctx["user_id"] = data.get("user_id")
    if data["user_type"] == "registered":
        ctx["guest_info"] = None


def save_guest_info(ctx: Context, data: dict[str, Any]) -> None:
    ctx["guest_info"] = data["guest_info"]


def save_shipping_address(ctx: Context, data: dict[str, Any]) -> None:
    if ctx.get("shipping_address") != data["address"]:
        # A different destination may not be offered the method chosen before.
        ctx["shipping_method"] = None
    ctx["shipping_address"] = data["address"]
    ctx["address_validation"] = data.get("validation")


def copy_shipping_to_billing(ctx: Context, data: dict[str, Any]) -> None:
    ctx["billing_address"] = deepcopy(ctx["shipping_address"])


def save_billing_address(ctx: Context, data: dict[str, Any]) -> None:
    ctx["billing_address"] = data["address"]


def save_shipping_method(ctx: Context, data: dict[str, Any]) -> None:
    ctx["shipping_method"] = data["shipping_method"]


def save_payment_method(ctx: Context, data: dict[str, Any]) -> None:
    # Only the method's summary: never card numbers (they go browser → Stripe).
    ctx["payment_method"] = data["payment_method"]


def keep_context(ctx: Context, data: dict[str, Any]) -> None:
    """Nothing to copy into the context: ``updateCartItems`` and ``applyCoupon`` (the cart's
    own API changed its lines or coupons) and ``mergeGuestCart`` (login merged the carts;
    the step follows the session's cart) leave the cart as truth, and every step re-reads
    and re-prices it."""


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


def apply_actions(ctx: Context, names: tuple[str, ...], data: dict[str, Any]) -> Context:
    """A new context with the pure actions among ``names`` applied in order. It shares
    nested values with ``ctx``: neither is changed below the top level, ever."""
    # Actions (and the effects after them) replace top-level keys and never change a
    # nested value in place, so a shallow copy leaves ``ctx`` as it was.
    out = dict(ctx)
    for name in names:
        action = ACTIONS.get(name)
        if action is not None:
            action(out, data)
    return out
