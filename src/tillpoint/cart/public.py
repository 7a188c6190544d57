"""What cart offers the rest of tillpoint.

The shopping bag: carts and lines, applied coupons (apply, remove, re-check, price), guessing
limits, merging at sign-in, the cart's stock hold, and the cart's view.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.cart.applied_coupons import audit_removals, price_applied_coupons
from tillpoint.cart.cache import invalidate
from tillpoint.cart.coupon_guessing import PREFIX, apply_coupon_limited
from tillpoint.cart.coupons import remove_coupon, revalidate_locked_cart
from tillpoint.cart.locks import LineLock, holds_locked_lines
from tillpoint.cart.merge import (
    CouponRevalidator,
    MergeReport,
    merge_carts,
    revalidate_applied_coupons,
)
from tillpoint.cart.models import AppliedCoupon, Cart, CartItem
from tillpoint.cart.service import (
    ACTIVE,
    ConvertedCart,
    PayingCheck,
    add_item,
    clear_cart,
    create_cart,
    create_guest_cart,
    delete_expired_carts,
    get_cart,
    insert_new_cart,
    lock_cart,
    mark_converted,
    new_cart,
    new_guest_cart,
    record_cart_created,
    refuse_while_paying,
    remove_item,
    update_item_quantity,
)
from tillpoint.cart.session_lines import LockedLine, fill_locked_cart
from tillpoint.cart.stock_hold import CartOwner, held_by_owner, reserve_cart
from tillpoint.cart.view import CartView, cart_to_dict

__all__ = [
    "ACTIVE",
    "PREFIX",
    "AppliedCoupon",
    "Cart",
    "CartItem",
    "CartOwner",
    "CartView",
    "ConvertedCart",
    "CouponRevalidator",
    "LineLock",
    "LockedLine",
    "MergeReport",
    "PayingCheck",
    "add_item",
    "apply_coupon_limited",
    "audit_removals",
    "cart_to_dict",
    "clear_cart",
    "create_cart",
    "create_guest_cart",
    "delete_expired_carts",
    "fill_locked_cart",
    "get_cart",
    "held_by_owner",
    "holds_locked_lines",
    "insert_new_cart",
    "invalidate",
    "lock_cart",
    "mark_converted",
    "merge_carts",
    "new_cart",
    "new_guest_cart",
    "price_applied_coupons",
    "record_cart_created",
    "refuse_while_paying",
    "remove_coupon",
    "remove_item",
    "reserve_cart",
    "revalidate_applied_coupons",
    "revalidate_locked_cart",
    "update_item_quantity",
]
