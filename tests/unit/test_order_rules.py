"""Pure order rules: refund proration and order numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.orders.numbers import new_order_number, normalize_order_number
from tillpoint.orders.prorate import SHIPPING, prorate_refund


def test_refund_is_split_in_proportion_to_what_each_line_paid() -> None:
    # Line a paid 6000 (after its discount share), b 3000, shipping 1000.
    parts = prorate_refund(1000, {"a": 6000, "b": 3000, SHIPPING: 1000})
    assert parts == {"a": 600, "b": 300, SHIPPING: 100}


def test_leftover_minor_units_go_to_largest_remainders() -> None:
    # 100 over three equal lines: 33 each and the last unit to the first (ties: earliest).
    assert prorate_refund(100, {"a": 100, "b": 100, "c": 100}) == {"a": 34, "b": 33, "c": 33}
    assert prorate_refund(5, {"a": 1, "b": 2, "c": 7}) == {"a": 1, "b": 1, "c": 3}


def test_fully_refunded_parts_take_nothing() -> None:
    assert prorate_refund(500, {"a": 0, "b": 500}) == {"b": 500}


@pytest.mark.parametrize("amount", [0, -1, 1001])
def test_refund_outside_what_is_refundable_is_refused(amount: int) -> None:
    with pytest.raises(ValueError):
        prorate_refund(amount, {"a": 600, "b": 400})


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 10**7), min_size=1),
    st.data(),
)
def test_parts_sum_exactly_and_never_exceed_their_line(
    refundable: dict[str, int], data: st.DataObject
) -> None:
    total = sum(refundable.values())
    if total == 0:
        return
    amount = data.draw(st.integers(1, total))
    parts = prorate_refund(amount, refundable)
    assert sum(parts.values()) == amount
    assert all(0 < v <= refundable[k] for k, v in parts.items())


def test_order_numbers_are_readable_and_distinct() -> None:
    numbers = {new_order_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in list(numbers)[:50]:
        assert normalize_order_number(number) == number
        assert not set(number[3:].replace("-", "")) & set("ILOU")


def test_typed_order_numbers_are_normalised() -> None:
    assert normalize_order_number(" tp 7k4m 9qx2 ") == "TP-7K4M-9QX2"
    assert normalize_order_number("TP-7K4M-9QXO") == "TP-7K4M-9QX0"
    assert normalize_order_number("7k4m-9qx2") == "TP-7K4M-9QX2"
    assert normalize_order_number("TP-7K4M") is None
    assert normalize_order_number("TP-7K4M-9QX2-EXTRA") is None
