"""Coupon rules without I/O: what a coupon is, whether it may apply, and with which others.

A :class:`CouponRule` is the pure view of a stored coupon. :func:`check_coupon` says
why one coupon may not apply to a cart (stable reason codes); :func:`check_combination`
says why it may not join the coupons already applied; :func:`select_applicable` keeps,
from a set of applied coupons, those that still hold — deterministically, in the
configured priority order, whatever order the customer applied them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tillpoint.promotions.discount_types import PricingLine


class CouponType(StrEnum):
    percentage = "percentage"  # value: basis points off eligible lines (1000 = 10 %)
    fixed_amount = "fixed_amount"  # value: minor units off eligible lines, in the coupon's currency
    free_shipping = "free_shipping"  # value: unused (0); takes the shipping amount off
    buy_x_get_y = "buy_x_get_y"  # value: basis points off each "get" unit (10000 = free)


class Reason(StrEnum):
    """Stable reason codes of :class:`CouponValidation` errors and conflicts."""

    not_found = "not_found"
    inactive = "inactive"
    not_started = "not_started"
    expired = "expired"
    usage_limit_reached = "usage_limit_reached"
    customer_limit_reached = "customer_limit_reached"
    currency_mismatch = "currency_mismatch"
    minimum_not_met = "minimum_not_met"
    no_applicable_items = "no_applicable_items"
    already_applied = "already_applied"
    max_coupons_reached = "max_coupons_reached"
    not_combinable = "not_combinable"
    percentage_with_fixed = "percentage_with_fixed"
    multiple_percentage = "multiple_percentage"
    free_shipping_combination = "free_shipping_combination"


MESSAGES: dict[Reason, str] = {
    Reason.not_found: "There is no coupon with this code.",
    Reason.inactive: "This coupon is no longer active.",
    Reason.not_started: "This coupon is not valid yet.",
    Reason.expired: "This coupon has expired.",
    Reason.usage_limit_reached: "This coupon has been used up.",
    Reason.customer_limit_reached: "You have already used this coupon as often as allowed.",
    Reason.currency_mismatch: "This coupon is for another currency.",
    Reason.minimum_not_met: "The order does not reach this coupon's minimum amount.",
    Reason.no_applicable_items: "Nothing in the cart qualifies for this coupon.",
    Reason.already_applied: "This coupon is already applied.",
    Reason.max_coupons_reached: "No more coupons can be applied to this order.",
    Reason.not_combinable: "This coupon cannot be combined with the coupons applied.",
    Reason.percentage_with_fixed: "Percentage and fixed-amount coupons cannot be combined.",
    Reason.multiple_percentage: "Only one percentage coupon can be applied.",
    Reason.free_shipping_combination: "Free shipping cannot be combined with other coupons.",
}

# The reasons that come from the other applied coupons rather than from the coupon itself.
CONFLICT_REASONS = frozenset(
    {
        Reason.already_applied,
        Reason.max_coupons_reached,
        Reason.not_combinable,
        Reason.percentage_with_fixed,
        Reason.multiple_percentage,
        Reason.free_shipping_combination,
    }
)


@dataclass(frozen=True, slots=True)
class BuyXGetY:
    """Buy ``buy_quantity`` of ``buy_products``, get ``get_quantity`` of ``get_products`` off.

    An empty product set means every eligible line. Applied as many times as the cart
    allows; the cheapest "get" units are the discounted ones.
    """

    buy_quantity: int
    get_quantity: int
    buy_products: frozenset[str] = frozenset()
    get_products: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CouponRule:
    """Everything the rules need to know about one coupon (amounts in minor units)."""

    id: str
    code: str
    type: CouponType
    value: int
    starts_at: datetime
    ends_at: datetime
    currency: str | None = None
    minimum_order_amount: int | None = None
    maximum_discount: int | None = None
    usage_limit: int | None = None
    usage_count: int = 0
    per_customer_limit: int | None = None
    is_active: bool = True
    combinable: bool = False
    applicable_products: frozenset[str] = frozenset()
    excluded_products: frozenset[str] = frozenset()
    buy_x_get_y: BuyXGetY | None = None

    @property
    def item_level(self) -> bool:
        """Scoped to some products (or a buy-X-get-Y deal) rather than the whole order."""
        return bool(self.applicable_products) or self.type is CouponType.buy_x_get_y

    def eligible(self, product_id: str) -> bool:
        """Whether a line of ``product_id`` counts for this coupon."""
        if product_id in self.excluded_products:
            return False
        return not self.applicable_products or product_id in self.applicable_products


DEFAULT_PRIORITY: tuple[CouponType, ...] = (
    CouponType.buy_x_get_y,
    CouponType.percentage,
    CouponType.fixed_amount,
    CouponType.free_shipping,
)


@dataclass(frozen=True, slots=True)
class CombinabilityRules:
    """The seed's CombinabilityRules, plus whether item-level coupons go before order-level."""

    max_coupons_per_order: int = 3
    allow_percentage_with_fixed: bool = True
    allow_multiple_percentage: bool = False
    allow_free_shipping_combination: bool = True
    priority_order: tuple[CouponType, ...] = DEFAULT_PRIORITY
    item_level_first: bool = True

    def rank(self, coupon: CouponRule) -> tuple[int, int, str, str]:
        """Sort key fixing the order of application: scope, type priority, code, id."""
        scope = 0 if (coupon.item_level or not self.item_level_first) else 1
        order = self.priority_order
        type_rank = order.index(coupon.type) if coupon.type in order else len(order)
        return (scope, type_rank, coupon.code, coupon.id)

    def ordered(self, coupons: Iterable[CouponRule]) -> list[CouponRule]:
        return sorted(coupons, key=self.rank)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a coupon cannot apply; ``other`` names the coupon it conflicts with."""

    reason: Reason
    coupon_id: str | None = None
    other_coupon_id: str | None = None
    other_code: str | None = None
    details: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return MESSAGES[self.reason]

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.reason.value, "message": self.message}
        if self.other_coupon_id is not None:
            out["coupon_id"] = self.other_coupon_id
            out["coupon_code"] = self.other_code
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass(frozen=True, slots=True)
class CartFacts:
    """What validation needs to know about the cart and the customer."""

    lines: Sequence[PricingLine]
    currency: str
    now: datetime
    customer_uses: int = 0  # how often this customer already used the coupon

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)


def check_coupon(coupon: CouponRule, facts: CartFacts) -> list[Problem]:
    """Why ``coupon`` cannot apply to this cart on its own (empty: it can).

    The validity window includes its start and excludes its end: a coupon ending at
    midnight is expired at midnight.
    """
    problems: list[Problem] = []

    def fail(reason: Reason, **details: int) -> None:
        problems.append(Problem(reason, coupon.id, details=details))

    if not coupon.is_active:
        fail(Reason.inactive)
    if facts.now < coupon.starts_at:
        fail(Reason.not_started)
    if facts.now >= coupon.ends_at:
        fail(Reason.expired)
    if coupon.usage_limit is not None and coupon.usage_count >= coupon.usage_limit:
        fail(Reason.usage_limit_reached)
    if coupon.per_customer_limit is not None and facts.customer_uses >= coupon.per_customer_limit:
        fail(Reason.customer_limit_reached)
    if coupon.currency is not None and coupon.currency != facts.currency:
        fail(Reason.currency_mismatch)
        return problems  # amounts in another currency cannot be compared
    if coupon.minimum_order_amount is not None and facts.subtotal < coupon.minimum_order_amount:
        fail(
            Reason.minimum_not_met,
            minimum_order_amount=coupon.minimum_order_amount,
            subtotal=facts.subtotal,
        )
    if not _has_applicable_items(coupon, facts.lines):
        fail(Reason.no_applicable_items)
    return problems


def _has_applicable_items(coupon: CouponRule, lines: Sequence[PricingLine]) -> bool:
    eligible = [line for line in lines if line.quantity > 0 and coupon.eligible(line.product_id)]
    deal = coupon.buy_x_get_y
    if deal is None:
        return bool(eligible)
    # A deal qualifies once the cart holds one full round of "buy" plus "get" units.
    return deal_rounds(deal, [(line.product_id, line.quantity) for line in eligible]) > 0


def deal_rounds(deal: BuyXGetY, units: Sequence[tuple[str, int]]) -> int:
    """How many whole rounds of the deal ``units`` (product id, quantity) can pay for.

    Counts only; which units are discounted is the calculation's business.
    """
    both = only_buy = only_get = 0
    for product_id, qty in units:
        in_buy = not deal.buy_products or product_id in deal.buy_products
        in_get = not deal.get_products or product_id in deal.get_products
        if in_buy and in_get:
            both += qty
        elif in_buy:
            only_buy += qty
        elif in_get:
            only_get += qty
    # Largest n with max(n*buy - only_buy, 0) + max(n*get - only_get, 0) <= both, i.e. the
    # "both" units cover what each side lacks; max(0, a, c, a + c) splits into three bounds.
    buy, get = deal.buy_quantity, deal.get_quantity
    return min(
        (only_buy + both) // buy,
        (only_get + both) // get,
        (only_buy + only_get + both) // (buy + get),
    )


def check_combination(
    coupon: CouponRule, applied: Sequence[CouponRule], rules: CombinabilityRules
) -> list[Problem]:
    """Why ``coupon`` cannot join the already ``applied`` coupons (empty: it can)."""
    problems: list[Problem] = []
    if any(a.id == coupon.id for a in applied):
        return [Problem(Reason.already_applied, coupon.id)]
    if len(applied) + 1 > rules.max_coupons_per_order:
        problems.append(
            Problem(
                Reason.max_coupons_reached,
                coupon.id,
                details={"max_coupons_per_order": rules.max_coupons_per_order},
            )
        )
    for other in applied:
        for reason in _pair_conflicts(coupon, other, rules):
            problems.append(Problem(reason, coupon.id, other.id, other.code))
    return problems


def _pair_conflicts(a: CouponRule, b: CouponRule, rules: CombinabilityRules) -> list[Reason]:
    reasons: list[Reason] = []
    if not (a.combinable and b.combinable):
        reasons.append(Reason.not_combinable)
    types = {a.type, b.type}
    if not rules.allow_percentage_with_fixed and types == {
        CouponType.percentage,
        CouponType.fixed_amount,
    }:
        reasons.append(Reason.percentage_with_fixed)
    if not rules.allow_multiple_percentage and a.type is b.type is CouponType.percentage:
        reasons.append(Reason.multiple_percentage)
    if not rules.allow_free_shipping_combination and CouponType.free_shipping in types:
        reasons.append(Reason.free_shipping_combination)
    return reasons


def select_applicable(
    coupons: Sequence[CouponRule],
    facts: CartFacts | None,
    rules: CombinabilityRules,
    customer_uses: dict[str, int] | None = None,
) -> tuple[list[CouponRule], dict[str, list[Problem]]]:
    """Split applied coupons into those that still hold and those to drop, with reasons.

    Goes through the coupons in priority order, keeping each that is valid on its own
    (when ``facts`` is given) and combines with those kept before it, so the outcome
    does not depend on the order the customer applied them in.
    """
    kept: list[CouponRule] = []
    dropped: dict[str, list[Problem]] = {}
    uses = customer_uses or {}
    for coupon in rules.ordered(coupons):
        problems: list[Problem] = []
        if facts is not None:
            own = CartFacts(facts.lines, facts.currency, facts.now, uses.get(coupon.id, 0))
            problems = check_coupon(coupon, own)
        problems = problems or check_combination(coupon, kept, rules)
        if problems:
            dropped[coupon.id] = problems
        else:
            kept.append(coupon)
    return kept, dropped
