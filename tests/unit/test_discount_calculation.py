"""The discount calculation (pure): each coupon type, caps, stacking, exact allocation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.promotions.calculation import calculate_discount
from tillpoint.promotions.discount_types import PricingLine
from tillpoint.promotions.rules import BuyXGetY, CombinabilityRules, CouponRule, CouponType

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RULES = CombinabilityRules(max_coupons_per_order=10, allow_multiple_percentage=True)


def coupon(
    code: str, kind: CouponType = CouponType.percentage, value: int = 1000, **kw: object
) -> CouponRule:
    return CouponRule(
        id=f"cpn_{code}",
        code=code,
        type=kind,
        value=value,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
        combinable=True,
        **kw,  # type: ignore[arg-type]
    )


def line(line_id: str, product: str, qty: int, price: int) -> PricingLine:
    return PricingLine(line_id, product, None, qty, price)


CART = [line("l1", "mug", 2, 1500), line("l2", "tea", 1, 800), line("l3", "pot", 1, 4999)]


def test_percentage_is_allocated_over_lines_and_sums_exactly() -> None:
    result = calculate_discount(CART, [coupon("P10")], RULES)
    (applied,) = result.applied
    # 10 % of 8799 = 879.9 → 880, split by line amount with largest remainders.
    assert applied.amount == 880
    assert dict(applied.line_amounts) == {"l1": 300, "l2": 80, "l3": 500}
    assert result.total == 880 and result.shipping_discount == 0


def test_fixed_amount_never_exceeds_the_eligible_amount() -> None:
    result = calculate_discount(CART, [coupon("F", CouponType.fixed_amount, 1000)], RULES)
    assert result.total == 1000 and sum(result.line_discounts.values()) == 1000
    huge = calculate_discount(CART, [coupon("F", CouponType.fixed_amount, 10**7)], RULES)
    assert huge.line_discounts == {"l1": 3000, "l2": 800, "l3": 4999}


def test_maximum_discount_caps_the_coupon() -> None:
    capped = coupon("P50", value=5000, maximum_discount=1000)
    assert calculate_discount(CART, [capped], RULES).total == 1000


def test_applicable_and_excluded_products_limit_the_lines() -> None:
    only_tea = coupon("T", value=5000, applicable_products=frozenset({"tea"}))
    assert calculate_discount(CART, [only_tea], RULES).line_discounts == {"l2": 400}
    not_pot = coupon("N", CouponType.fixed_amount, 380, excluded_products=frozenset({"pot"}))
    assert calculate_discount(CART, [not_pot], RULES).line_discounts == {"l1": 300, "l2": 80}


def test_free_shipping_takes_only_shipping_off() -> None:
    ship = coupon("SHIP", CouponType.free_shipping, 0)
    result = calculate_discount(CART, [ship], RULES, shipping_amount=695)
    assert result.shipping_discount == 695 and result.line_discounts == {}
    capped = coupon("SHIP", CouponType.free_shipping, 0, maximum_discount=500)
    assert calculate_discount(CART, [capped], RULES, shipping_amount=695).total == 500


def test_stacked_percentages_compound_on_what_is_left() -> None:
    lines = [line("l1", "a", 1, 10000)]
    result = calculate_discount(lines, [coupon("A", value=1000), coupon("B", value=2000)], RULES)
    # 10 % of 100.00, then 20 % of 90.00: 10.00 + 18.00, not 30 % of 100.00.
    assert [d.amount for d in result.applied] == [1000, 1800]


def test_percentage_goes_before_fixed_whatever_the_order_applied() -> None:
    lines = [line("l1", "a", 1, 10000)]
    pct, fixed = coupon("Z", value=1000), coupon("A", CouponType.fixed_amount, 1000)
    for coupons in ([pct, fixed], [fixed, pct]):
        result = calculate_discount(lines, coupons, RULES)
        assert [(d.code, d.amount) for d in result.applied] == [("Z", 1000), ("A", 1000)]


def test_total_never_goes_below_zero() -> None:
    lines = [line("l1", "a", 1, 500)]
    many = [coupon(f"F{i}", CouponType.fixed_amount, 400) for i in range(3)]
    result = calculate_discount(lines, [*many, coupon("P", value=10000)], RULES)
    assert result.total == 500
    assert [d.amount for d in result.applied] == [500, 0, 0, 0]  # the 100 % went first


def test_buy_two_get_one_free_discounts_the_cheapest_units() -> None:
    deal = coupon("B2G1", CouponType.buy_x_get_y, 10000, buy_x_get_y=BuyXGetY(2, 1))
    lines = [line("l1", "a", 2, 1000), line("l2", "b", 1, 700), line("l3", "c", 3, 300)]
    # Six units: two rounds, so the two cheapest units (both 3.00) are free.
    result = calculate_discount(lines, [deal], RULES)
    assert result.line_discounts == {"l3": 600}


def test_buy_x_get_y_at_a_percentage_with_separate_sets() -> None:
    deal = coupon(
        "SHOES",
        CouponType.buy_x_get_y,
        5000,
        buy_x_get_y=BuyXGetY(1, 1, frozenset({"shoe"}), frozenset({"sock", "lace"})),
    )
    lines = [
        line("l1", "shoe", 2, 8000),
        line("l2", "sock", 3, 900),
        line("l3", "lace", 1, 300),
    ]
    # Two shoes pay for two "get" units: the lace (3.00) and one sock (9.00), half off each.
    assert calculate_discount(lines, [deal], RULES).line_discounts == {"l3": 150, "l2": 450}


def test_buy_x_get_y_repeats_and_respects_its_cap() -> None:
    deal = coupon(
        "B1G1", CouponType.buy_x_get_y, 10000, buy_x_get_y=BuyXGetY(1, 1), maximum_discount=1500
    )
    lines = [line("l1", "a", 4, 1000)]
    assert calculate_discount(lines, [deal], RULES).total == 1500
    uncapped = coupon("B1G1", CouponType.buy_x_get_y, 10000, buy_x_get_y=BuyXGetY(1, 1))
    assert calculate_discount(lines, [uncapped], RULES).total == 2000


def test_a_coupon_with_nothing_left_is_listed_with_zero() -> None:
    lines = [line("l1", "a", 1, 100)]
    result = calculate_discount(
        lines, [coupon("A", value=10000), coupon("B", CouponType.fixed_amount, 50)], RULES
    )
    assert [(d.code, d.amount, dict(d.line_amounts)) for d in result.applied] == [
        ("A", 100, {"l1": 100}),
        ("B", 0, {}),
    ]


# --- properties ---------------------------------------------------------------------------

PRODUCTS = ["a", "b", "c", "d"]

lines_strategy = st.lists(
    st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 20), st.integers(0, 100_000)),
    min_size=1,
    max_size=12,
).map(lambda rows: [line(f"l{i}", p, q, price) for i, (p, q, price) in enumerate(rows)])


@st.composite
def coupons_strategy(draw: st.DrawFn) -> list[CouponRule]:
    count = draw(st.integers(1, 6))
    out = []
    for i in range(count):
        kind = draw(st.sampled_from(list(CouponType)))
        value = {
            CouponType.percentage: draw(st.integers(1, 10000)),
            CouponType.fixed_amount: draw(st.integers(1, 200_000)),
            CouponType.free_shipping: 0,
            CouponType.buy_x_get_y: draw(st.integers(1, 10000)),
        }[kind]
        subset = st.frozensets(st.sampled_from(PRODUCTS), max_size=3)
        deal = None
        if kind is CouponType.buy_x_get_y:
            deal = BuyXGetY(
                draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(subset), draw(subset)
            )
        out.append(
            coupon(
                f"C{i}",
                kind,
                value,
                applicable_products=draw(subset),
                excluded_products=draw(st.frozensets(st.sampled_from(PRODUCTS), max_size=1)),
                maximum_discount=draw(st.none() | st.integers(0, 100_000)),
                buy_x_get_y=deal,
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(lines_strategy, coupons_strategy(), st.integers(0, 5000))
def test_discounts_never_exceed_what_they_apply_to(
    lines: list[PricingLine], coupons: list[CouponRule], shipping: int
) -> None:
    result = calculate_discount(lines, coupons, RULES, shipping)
    by_line = result.line_discounts
    for pl in lines:
        assert 0 <= by_line.get(pl.line_id, 0) <= pl.amount
    assert 0 <= result.shipping_discount <= shipping
    assert result.total <= sum(pl.amount for pl in lines) + shipping
    for applied, rule in zip(result.applied, RULES.ordered(coupons), strict=True):
        assert all(v > 0 for v in applied.line_amounts.values())
        assert set(applied.line_amounts) <= {
            pl.line_id for pl in lines if rule.eligible(pl.product_id)
        }
        if rule.maximum_discount is not None:
            assert applied.amount <= rule.maximum_discount


@settings(max_examples=200, deadline=None)
@given(lines_strategy, st.integers(1, 10000), st.integers(1, 10**6))
def test_allocations_sum_exactly_to_the_coupon_amount(
    lines: list[PricingLine], basis_points: int, fixed: int
) -> None:
    eligible = sum(pl.amount for pl in lines)
    for c in (coupon("P", value=basis_points), coupon("F", CouponType.fixed_amount, fixed)):
        (applied,) = calculate_discount(lines, [c], RULES).applied
        assert sum(applied.line_amounts.values()) == applied.amount
        expected = min(fixed, eligible) if c.type is CouponType.fixed_amount else None
        if expected is not None:
            assert applied.amount == expected


@settings(max_examples=200, deadline=None)
@given(lines_strategy, coupons_strategy(), st.integers(0, 5000), st.randoms())
def test_result_does_not_depend_on_application_order(
    lines: list[PricingLine], coupons: list[CouponRule], shipping: int, rnd: random.Random
) -> None:
    shuffled = list(coupons)
    rnd.shuffle(shuffled)
    assert calculate_discount(lines, shuffled, RULES, shipping) == calculate_discount(
        lines, coupons, RULES, shipping
    )
