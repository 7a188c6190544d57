"""Lines a checkout session put in a cart, which the shopper may not change.

A session's line carries its lock in the line's metadata (``LOCK_KEY``): the session id,
the quantity bounds the shop allowed (equal to the quantity when it allowed none) and
whether coupons may be applied. Kept on the line, not the cart, so the rules need no
extra read: every cart write already holds the lines under the cart's row lock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tillpoint.cart.models import Cart, CartItem
from tillpoint.errors import Conflict, FieldError, InvalidInput

LOCK_KEY = "checkout_session"


@dataclass(frozen=True, slots=True)
class LineLock:
    session_id: str
    minimum: int
    maximum: int
    allow_coupons: bool

    def as_meta(self) -> dict[str, Any]:
        return {
            LOCK_KEY: {
                "id": self.session_id,
                "min": self.minimum,
                "max": self.maximum,
                "coupons": self.allow_coupons,
            }
        }


def lock_of(meta: Mapping[str, Any] | None) -> LineLock | None:
    """The lock a line's metadata holds, if any."""
    raw = (meta or {}).get(LOCK_KEY)
    if not isinstance(raw, dict):
        return None
    return LineLock(str(raw["id"]), int(raw["min"]), int(raw["max"]), bool(raw["coupons"]))


def locks_in(items: Iterable[CartItem]) -> list[LineLock]:
    return [lock for item in items if (lock := lock_of(item.meta)) is not None]


def holds_locked_lines(cart: Cart) -> bool:
    """Whether ``cart`` is a checkout session's (at sign-in it is adopted, never merged:
    its lines stay locked and its session finds it)."""
    return bool(locks_in(cart.items))


def _locked() -> Conflict:
    return Conflict(
        "The shop set this cart's lines: they cannot be added to or removed.",
        code="cart_line_locked",
    )


def refuse_reserved_metadata(meta: Mapping[str, Any]) -> None:
    """No client may write a lock into a line's metadata."""
    if LOCK_KEY in meta:
        message = f"Metadata key {LOCK_KEY!r} is reserved."
        raise InvalidInput(
            message,
            code="metadata_key_reserved",
            fields=[FieldError(("metadata", LOCK_KEY), "metadata_key_reserved", message)],
        )


def refuse_if_locked(items: Iterable[CartItem]) -> None:
    """Adding, removing or clearing lines: 409 ``cart_line_locked`` in a session's cart."""
    if locks_in(items):
        raise _locked()


def check_locked_quantity(item: CartItem, quantity: int) -> None:
    """A locked line's new quantity must stay within the shop's bounds: 409
    ``cart_line_locked`` when the shop allowed no change (or to remove it), else 422
    ``quantity_out_of_range`` with the bounds."""
    lock = lock_of(item.meta)
    if lock is None:
        return
    if quantity == 0 or lock.minimum == lock.maximum:
        raise _locked()
    if not lock.minimum <= quantity <= lock.maximum:
        message = f"Quantity must be between {lock.minimum} and {lock.maximum}."
        raise InvalidInput(
            message,
            code="quantity_out_of_range",
            fields=[FieldError(("quantity",), "quantity_out_of_range", message)],
            details={"min": lock.minimum, "max": lock.maximum},
        )


def refuse_coupons_if_locked(items: Iterable[CartItem]) -> None:
    """422 ``coupons_not_allowed`` in a session's cart the shop allowed no coupons for."""
    if any(not lock.allow_coupons for lock in locks_in(items)):
        raise InvalidInput("Coupons cannot be used for this purchase.", code="coupons_not_allowed")
