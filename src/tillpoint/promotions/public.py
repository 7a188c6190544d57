"""What promotions offers the rest of tillpoint.

Coupons: their rules and combinability, lookup, discount calculation, holds and
redemption, and the admin's coupon management.

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.promotions.admin import (
    MAX_BATCH,
    MAX_USES,
    NOT_NULLABLE,
    CouponDraft,
    coupon_to_dict,
    create_coupon,
    create_coupon_batch,
    deactivate_coupon,
    list_coupons,
    read_coupon,
    update_coupon,
)
from tillpoint.promotions.calculation import calculate_discount
from tillpoint.promotions.discount_types import NO_DISCOUNTS, DiscountResult, PricingLine
from tillpoint.promotions.errors import CouponUnavailable, coupon_rejected
from tillpoint.promotions.fetch import (
    combinability_rules,
    coupon_by_code,
    coupons_by_id,
    customer_keys,
    customer_uses,
    held_by_cart,
    rule_of,
)
from tillpoint.promotions.holds import (
    EXHAUSTED,
    coupon_message,
    hold_coupons,
    redeem_coupon_holds,
    release_checkout_holds,
    release_holds_without,
)
from tillpoint.promotions.models import CouponHold
from tillpoint.promotions.rules import (
    CONFLICT_REASONS,
    CartFacts,
    CouponRule,
    Problem,
    Reason,
    check_combination,
    check_coupon,
    select_applicable,
)

__all__ = [
    "CONFLICT_REASONS",
    "EXHAUSTED",
    "MAX_BATCH",
    "MAX_USES",
    "NOT_NULLABLE",
    "NO_DISCOUNTS",
    "CartFacts",
    "CouponDraft",
    "CouponHold",
    "CouponRule",
    "CouponUnavailable",
    "DiscountResult",
    "PricingLine",
    "Problem",
    "Reason",
    "calculate_discount",
    "check_combination",
    "check_coupon",
    "combinability_rules",
    "coupon_by_code",
    "coupon_message",
    "coupon_rejected",
    "coupon_to_dict",
    "coupons_by_id",
    "create_coupon",
    "create_coupon_batch",
    "customer_keys",
    "customer_uses",
    "deactivate_coupon",
    "held_by_cart",
    "hold_coupons",
    "list_coupons",
    "read_coupon",
    "redeem_coupon_holds",
    "release_checkout_holds",
    "release_holds_without",
    "rule_of",
    "select_applicable",
    "update_coupon",
]
