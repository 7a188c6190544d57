"""Coupon validation and combinability rules (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.promotions.codes import is_valid_code, normalize_code, random_code
from tillpoint.promotions.discount_types import PricingLine
from tillpoint.promotions.rules import (
    BuyXGetY,
    CartFacts,
    CombinabilityRules,
    CouponRule,
    CouponType,
    Reason,
    check_combination,
    check_coupon,
    deal_rounds,
    select_applicable,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LINES = (
    PricingLine("l1", "mug", None, 2, 1500),
    PricingLine("l2", "tea", None, 1, 800),
)


def coupon(code: str = "SAVE10", **kw: object) -> CouponRule:
    values: dict[str, object] = {
        "id": f"cpn_{code}",
        "code": code,
        "type": CouponType.percentage,
        "value": 1000,
        "starts_at": NOW - timedelta(days=1),
        "ends_at": NOW + timedelta(days=1),
    }
    values.update(kw)
    return CouponRule(**values)  # type: ignore[arg-type]


def facts(now: datetime = NOW, lines: tuple[PricingLine, ...] = LINES, uses: int = 0) -> CartFacts:
    return CartFacts(lines, "USD", now, uses)


def reasons(problems: list) -> list[Reason]:  # type: ignore[type-arg]
    return [p.reason for p in problems]


def test_a_good_coupon_has_no_problems() -> None:
    assert check_coupon(coupon(), facts()) == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW - timedelta(days=1) - timedelta(microseconds=1), [Reason.not_started]),
        (NOW - timedelta(days=1), []),  # the start instant is inside the window
        (NOW + timedelta(days=1) - timedelta(microseconds=1), []),
        (NOW + timedelta(days=1), [Reason.expired]),  # the end instant is outside
    ],
)
def test_validity_window_edges(now: datetime, expected: list[Reason]) -> None:
    assert reasons(check_coupon(coupon(), facts(now=now))) == expected


def test_inactive_used_up_and_customer_limit() -> None:
    assert reasons(check_coupon(coupon(is_active=False), facts())) == [Reason.inactive]
    used = coupon(usage_limit=5, usage_count=5)
    assert reasons(check_coupon(used, facts())) == [Reason.usage_limit_reached]
    assert check_coupon(coupon(usage_limit=5, usage_count=4), facts()) == []
    once = coupon(per_customer_limit=1)
    assert reasons(check_coupon(once, facts(uses=1))) == [Reason.customer_limit_reached]
    assert check_coupon(once, facts(uses=0)) == []


def test_minimum_order_amount_is_inclusive() -> None:
    subtotal = 2 * 1500 + 800
    assert check_coupon(coupon(minimum_order_amount=subtotal), facts()) == []
    problems = check_coupon(coupon(minimum_order_amount=subtotal + 1), facts())
    assert reasons(problems) == [Reason.minimum_not_met]
    assert problems[0].details == {"minimum_order_amount": subtotal + 1, "subtotal": subtotal}


def test_currency_mismatch() -> None:
    assert reasons(check_coupon(coupon(currency="EUR"), facts())) == [Reason.currency_mismatch]
    assert check_coupon(coupon(currency="USD"), facts()) == []


def test_applicable_and_excluded_products() -> None:
    assert check_coupon(coupon(applicable_products=frozenset({"tea"})), facts()) == []
    only_other = coupon(applicable_products=frozenset({"cake"}))
    assert reasons(check_coupon(only_other, facts())) == [Reason.no_applicable_items]
    all_out = coupon(excluded_products=frozenset({"mug", "tea"}))
    assert reasons(check_coupon(all_out, facts())) == [Reason.no_applicable_items]
    both = coupon(applicable_products=frozenset({"tea"}), excluded_products=frozenset({"tea"}))
    assert reasons(check_coupon(both, facts())) == [Reason.no_applicable_items]


def test_buy_x_get_y_needs_a_full_round() -> None:
    deal = coupon(type=CouponType.buy_x_get_y, value=10000, buy_x_get_y=BuyXGetY(2, 1))
    one_mug = (PricingLine("l1", "mug", None, 2, 1500),)
    assert reasons(check_coupon(deal, facts(lines=one_mug))) == [Reason.no_applicable_items]
    assert check_coupon(deal, facts()) == []


@pytest.mark.parametrize(
    ("units", "rounds"),
    [
        ([("a", 3)], 1),
        ([("a", 5)], 1),
        ([("a", 6)], 2),
        ([("a", 2), ("b", 1)], 1),  # same set: any three units
    ],
)
def test_deal_rounds_over_one_set(units: list[tuple[str, int]], rounds: int) -> None:
    assert deal_rounds(BuyXGetY(2, 1), units) == rounds


def test_deal_rounds_over_two_sets() -> None:
    deal = BuyXGetY(2, 1, buy_products=frozenset({"a"}), get_products=frozenset({"b"}))
    assert deal_rounds(deal, [("a", 4), ("b", 1)]) == 1
    assert deal_rounds(deal, [("a", 4), ("b", 3)]) == 2
    assert deal_rounds(deal, [("a", 1), ("b", 3)]) == 0
    overlapping = BuyXGetY(1, 1, buy_products=frozenset({"a", "b"}), get_products=frozenset({"b"}))
    assert deal_rounds(overlapping, [("a", 1), ("b", 3)]) == 2


def test_not_combinable_coupons_stand_alone() -> None:
    rules = CombinabilityRules()
    alone = coupon("ALONE")
    friendly = coupon("FIXED5", type=CouponType.fixed_amount, value=500, combinable=True)
    problems = check_combination(friendly, [alone], rules)
    assert reasons(problems) == [Reason.not_combinable]
    assert problems[0].other_code == "ALONE"
    assert check_combination(alone, [], rules) == []


def test_max_coupons_per_order() -> None:
    rules = CombinabilityRules(max_coupons_per_order=2, allow_multiple_percentage=True)
    applied = [coupon(f"P{i}", combinable=True) for i in range(2)]
    third = coupon("P9", combinable=True)
    assert reasons(check_combination(third, applied, rules)) == [Reason.max_coupons_reached]
    assert check_combination(third, applied[:1], rules) == []


def test_already_applied() -> None:
    c = coupon(combinable=True)
    assert reasons(check_combination(c, [c], CombinabilityRules())) == [Reason.already_applied]


@pytest.mark.parametrize(
    ("rules", "a", "b", "expected"),
    [
        (
            CombinabilityRules(allow_percentage_with_fixed=False),
            CouponType.percentage,
            CouponType.fixed_amount,
            [Reason.percentage_with_fixed],
        ),
        (CombinabilityRules(), CouponType.percentage, CouponType.fixed_amount, []),
        (
            CombinabilityRules(allow_multiple_percentage=False),
            CouponType.percentage,
            CouponType.percentage,
            [Reason.multiple_percentage],
        ),
        (
            CombinabilityRules(allow_multiple_percentage=True),
            CouponType.percentage,
            CouponType.percentage,
            [],
        ),
        (
            CombinabilityRules(allow_free_shipping_combination=False),
            CouponType.free_shipping,
            CouponType.fixed_amount,
            [Reason.free_shipping_combination],
        ),
        (
            CombinabilityRules(allow_free_shipping_combination=False),
            CouponType.percentage,
            CouponType.free_shipping,
            [Reason.free_shipping_combination],
        ),
        (CombinabilityRules(), CouponType.free_shipping, CouponType.percentage, []),
    ],
)
def test_type_combination_rules(
    rules: CombinabilityRules, a: CouponType, b: CouponType, expected: list[Reason]
) -> None:
    first = coupon("A", type=a, combinable=True)
    second = coupon("B", type=b, combinable=True)
    assert reasons(check_combination(second, [first], rules)) == expected
    assert reasons(check_combination(first, [second], rules)) == expected


def test_priority_puts_item_level_first_then_type_order() -> None:
    rules = CombinabilityRules()
    order_fixed = coupon("ZFIXED", type=CouponType.fixed_amount, value=100)
    order_pct = coupon("YPCT")
    item_fixed = coupon("XITEM", type=CouponType.fixed_amount, applicable_products=frozenset({"a"}))
    deal = coupon("WDEAL", type=CouponType.buy_x_get_y, buy_x_get_y=BuyXGetY(1, 1))
    ship = coupon("AFREE", type=CouponType.free_shipping, value=0)
    ordered = rules.ordered([ship, order_fixed, item_fixed, order_pct, deal])
    assert [c.code for c in ordered] == ["WDEAL", "XITEM", "YPCT", "ZFIXED", "AFREE"]
    flat = dataclasses.replace(rules, item_level_first=False)
    assert [c.code for c in flat.ordered([ship, order_fixed, item_fixed, order_pct, deal])] == [
        "WDEAL",
        "YPCT",
        "XITEM",
        "ZFIXED",
        "AFREE",
    ]
    fixed_first = CombinabilityRules(
        priority_order=(CouponType.fixed_amount, CouponType.percentage), item_level_first=False
    )
    assert [c.code for c in fixed_first.ordered([order_pct, order_fixed])] == ["ZFIXED", "YPCT"]


def test_select_applicable_is_order_independent_and_explains_drops() -> None:
    rules = CombinabilityRules(max_coupons_per_order=2, allow_multiple_percentage=True)
    a = coupon("AAA", combinable=True)
    b = coupon("BBB", combinable=True, type=CouponType.fixed_amount, value=100)
    c = coupon("CCC", combinable=True, ends_at=NOW)  # expired now
    d = coupon("DDD", combinable=True)
    for order in ([a, b, c, d], [d, c, b, a], [c, a, d, b]):
        kept, dropped = select_applicable(order, facts(), rules)
        assert [k.code for k in kept] == ["AAA", "DDD"]  # percentages before fixed
        assert {k: reasons(v) for k, v in dropped.items()} == {
            "cpn_CCC": [Reason.expired],
            "cpn_BBB": [Reason.max_coupons_reached],
        }


def test_codes_are_normalised_and_random_codes_are_valid() -> None:
    assert normalize_code("  summer-10 ") == "SUMMER-10"
    assert is_valid_code("SUMMER-10") and not is_valid_code("-X") and not is_valid_code("A B")
    codes = {random_code("VIP") for _ in range(200)}
    assert len(codes) == 200
    assert all(is_valid_code(c) and c.startswith("VIP-") and len(c) == 14 for c in codes)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 12)), max_size=5),
    st.frozensets(st.sampled_from("abcd")),
    st.frozensets(st.sampled_from("abcd")),
)
def test_deal_rounds_is_the_largest_feasible_count(
    buy: int,
    get: int,
    units: list[tuple[str, int]],
    buy_set: frozenset[str],
    get_set: frozenset[str],
) -> None:
    deal = BuyXGetY(buy, get, buy_set, get_set)

    def feasible(n: int) -> bool:
        # Brute force: some split of the units in both sets pays for n rounds.
        ob = sum(
            q
            for p, q in units
            if (not buy_set or p in buy_set) and not (not get_set or p in get_set)
        )
        og = sum(
            q
            for p, q in units
            if (not get_set or p in get_set) and not (not buy_set or p in buy_set)
        )
        both = sum(
            q for p, q in units if (not buy_set or p in buy_set) and (not get_set or p in get_set)
        )
        return any(n * buy <= ob + b and n * get <= og + both - b for b in range(both + 1))

    rounds = deal_rounds(deal, units)
    assert feasible(rounds) and not feasible(rounds + 1)
