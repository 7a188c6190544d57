from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.money import (
    CurrencyMismatch,
    Money,
    Rounding,
    allocate,
    divide,
    exponent,
    parse_decimal,
    percentage,
)


def test_exponents_follow_iso_4217() -> None:
    assert exponent("USD") == 2
    assert exponent("JPY") == 0
    assert exponent("KRW") == 0
    assert exponent("KWD") == 3
    assert exponent("BHD") == 3


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError):
        Money(100, "XXX")


def test_money_refuses_floats_and_bools() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")
    with pytest.raises(TypeError):
        Money(100, "USD") * 1.5  # type: ignore[operator]


def test_arithmetic_and_currency_mismatch() -> None:
    assert Money(250, "USD") + Money(100, "USD") == Money(350, "USD")
    assert Money(250, "USD") * 3 == Money(750, "USD")
    assert 2 * Money(250, "USD") == Money(500, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(1, "USD") + Money(1, "EUR")


@pytest.mark.parametrize(
    ("amount", "bps", "rounding", "expected"),
    [
        (1000, 1250, Rounding.half_up, 125),
        (5, 1000, Rounding.half_up, 1),  # 0.5 -> 1
        (15, 1000, Rounding.half_even, 2),  # 1.5 -> 2
        (25, 1000, Rounding.half_even, 2),  # 2.5 -> 2
        (19, 1000, Rounding.down, 1),
        (11, 1000, Rounding.up, 2),
        (-5, 1000, Rounding.half_up, -1),
    ],
)
def test_percentage_rounds_as_asked(
    amount: int, bps: int, rounding: Rounding, expected: int
) -> None:
    assert percentage(amount, bps, rounding) == expected


def test_format_respects_exponent() -> None:
    assert Money(1250, "USD").format() == "USD 12.50"
    assert Money(1250, "JPY").format() == "JPY 1250"
    assert Money(1250, "KWD").format() == "KWD 1.250"


def test_parse_decimal_refuses_excess_precision() -> None:
    assert parse_decimal("12.5", "USD") == 1250
    assert parse_decimal("7", "JPY") == 7
    with pytest.raises(ValueError):
        parse_decimal("12.345", "USD")
    with pytest.raises(ValueError):
        parse_decimal("1e3", "USD")


def test_allocate_known_split() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate(10, [0, 0]) == [5, 5]
    assert allocate(0, []) == []


@given(
    amount=st.integers(min_value=-(10**9), max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=60),
)
def test_allocation_sums_exactly_and_is_proportional(amount: int, weights: list[int]) -> None:
    parts = allocate(amount, weights)
    assert sum(parts) == amount
    assert len(parts) == len(weights)
    total = sum(weights) or len(weights)
    effective = weights if sum(weights) else [1] * len(weights)
    for part, w in zip(parts, effective, strict=True):
        exact = amount * w / total
        assert abs(part - exact) < 1  # never more than one minor unit from the exact share


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30),
)
def test_allocation_of_non_negative_amount_has_no_negative_part(
    amount: int, weights: list[int]
) -> None:
    assert all(p >= 0 for p in allocate(amount, weights))


@given(
    n=st.integers(min_value=-(10**12), max_value=10**12),
    d=st.integers(min_value=1, max_value=10**6),
    rounding=st.sampled_from(list(Rounding)),
)
def test_divide_is_within_one_unit_and_symmetric(n: int, d: int, rounding: Rounding) -> None:
    q = divide(n, d, rounding)
    assert abs(q * d - n) < d
    assert divide(-n, d, rounding) == -q
    if rounding is Rounding.half_up:
        assert abs(2 * (n - q * d)) <= d
