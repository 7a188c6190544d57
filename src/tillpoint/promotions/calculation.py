"""The discount calculation: coupons in, an exact per-line allocation out (pure).

Coupons apply one after another in the configured priority order (never the order
the customer typed them), each on what the previous ones left: stacked percentages
compound, no line is discounted below zero, shipping is discounted only by
free-shipping coupons. Every coupon's discount is split over the lines it applies to
with :func:`tillpoint.money.allocate`, so the parts sum exactly to the coupon's amount
and tax can be charged on discounted line amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from tillpoint.money import BASIS_POINTS, allocate, divide, percentage
from tillpoint.promotions.discount_types import AppliedDiscount, DiscountResult, PricingLine
from tillpoint.promotions.rules import CombinabilityRules, CouponRule, CouponType, deal_rounds


def calculate_discount(
    lines: Sequence[PricingLine],
    coupons: Sequence[CouponRule],
    rules: CombinabilityRules,
    shipping_amount: int = 0,
) -> DiscountResult:
    """Price ``coupons`` (already validated) against ``lines`` and ``shipping_amount``.

    Returns one :class:`AppliedDiscount` per coupon, in order of application; a
    coupon that finds nothing left to take off is still listed, with zero.
    """
    remaining = {line.line_id: line.amount for line in lines}
    shipping_left = shipping_amount
    applied: list[AppliedDiscount] = []
    for coupon in rules.ordered(coupons):
        eligible = [line for line in lines if coupon.eligible(line.product_id)]
        line_amounts: dict[str, int] = {}
        shipping = 0
        if coupon.type is CouponType.free_shipping:
            shipping = _capped(shipping_left, coupon)
            shipping_left -= shipping
        elif coupon.type is CouponType.buy_x_get_y:
            line_amounts = _deal(coupon, eligible, remaining)
        else:
            base = sum(remaining[line.line_id] for line in eligible)
            if coupon.type is CouponType.percentage:
                amount = percentage(base, min(coupon.value, BASIS_POINTS))
            else:
                amount = coupon.value
            line_amounts = _spread(_capped(min(amount, base), coupon), eligible, remaining)
        for line_id, amount in line_amounts.items():
            remaining[line_id] -= amount
        applied.append(
            AppliedDiscount(
                coupon_id=coupon.id,
                code=coupon.code,
                type=coupon.type.value,
                line_amounts=line_amounts,
                shipping_amount=shipping,
            )
        )
    return DiscountResult(tuple(applied))


def _capped(amount: int, coupon: CouponRule) -> int:
    if coupon.maximum_discount is not None:
        amount = min(amount, coupon.maximum_discount)
    return max(amount, 0)


def _spread(amount: int, lines: Sequence[PricingLine], remaining: dict[str, int]) -> dict[str, int]:
    """Split ``amount`` over ``lines`` in proportion to what is left of each (never more)."""
    weights = [remaining[line.line_id] for line in lines]
    if amount <= 0 or not any(weights):
        return {}
    parts = allocate(amount, weights)
    return {line.line_id: part for line, part in zip(lines, parts, strict=True) if part}


def _deal(
    coupon: CouponRule, lines: Sequence[PricingLine], remaining: dict[str, int]
) -> dict[str, int]:
    """Buy X get Y: discount the cheapest "get" units of as many whole rounds as fit."""
    deal = coupon.buy_x_get_y
    if deal is None:
        return {}
    in_buy = {line.line_id: _in(deal.buy_products, line) for line in lines}
    in_get = {line.line_id: _in(deal.get_products, line) for line in lines}
    only_buy = sum(line.quantity for line in lines if in_buy[line.line_id] > in_get[line.line_id])
    both = sum(line.quantity for line in lines if in_buy[line.line_id] and in_get[line.line_id])
    rounds = deal_rounds(deal, [(line.product_id, line.quantity) for line in lines])
    if rounds == 0:
        return {}
    # "Both" units taken as free ones must leave enough units to pay for every round.
    both_as_get = min(both, both + only_buy - rounds * deal.buy_quantity)
    wanted = rounds * deal.get_quantity
    candidates = sorted(
        (line for line in lines if in_get[line.line_id] and line.quantity > 0),
        key=lambda line: (Fraction(remaining[line.line_id], line.quantity), line.line_id),
    )
    taken: dict[str, int] = {}
    for line in candidates:
        if wanted == 0:
            break
        room = line.quantity
        if in_buy[line.line_id]:
            room = min(room, both_as_get)
        k = min(room, wanted)
        if k <= 0:
            continue
        taken[line.line_id] = k
        wanted -= k
        if in_buy[line.line_id]:
            both_as_get -= k
    by_line = {line.line_id: line for line in lines}
    amounts = {
        line_id: divide(
            remaining[line_id] * k * min(coupon.value, BASIS_POINTS),
            by_line[line_id].quantity * BASIS_POINTS,
        )
        for line_id, k in taken.items()
    }
    total = sum(amounts.values())
    capped = _capped(total, coupon)
    if capped < total:
        ids = list(amounts)
        parts = allocate(capped, [amounts[i] for i in ids])
        amounts = dict(zip(ids, parts, strict=True))
    return {line_id: amount for line_id, amount in amounts.items() if amount}


def _in(products: frozenset[str], line: PricingLine) -> bool:
    return not products or line.product_id in products
