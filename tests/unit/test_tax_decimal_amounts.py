"""Decimal amounts of the tax providers ↔ minor units, and the exact spread of a
provider's total over our lines (no float anywhere)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tillpoint.tax.decimal_amounts import rate_to_ppm, spread, to_decimal, to_minor
from tillpoint.tax.provider_http import dumps, loads


def test_minor_units_and_decimals_convert_exactly_per_currency() -> None:
    assert to_decimal(1250, "USD") == Decimal("12.50") and str(to_decimal(5, "USD")) == "0.05"
    assert to_decimal(1250, "JPY") == Decimal("1250")
    assert to_minor(Decimal("12.50"), "USD") == 1250
    assert to_minor("0.125", "USD") == 13  # half-up
    assert to_minor(Decimal("-0.125"), "USD") == -13
    assert to_minor(7, "USD") == 700 and to_minor("1250", "JPY") == 1250


@pytest.mark.parametrize("bad", [0.1, True, "ten", "NaN", None])
def test_floats_and_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        to_minor(bad, "USD")


def test_rates_become_parts_per_million() -> None:
    assert rate_to_ppm(Decimal("0.08875")) == 88_750 and rate_to_ppm("0.09975") == 99_750
    with pytest.raises(ValueError):
        rate_to_ppm(0.08875)


def test_spread_sums_to_the_total_by_largest_remainder() -> None:
    thirds = [Decimal("0.333")] * 3
    assert spread(100, thirds) == [34, 33, 33]
    assert spread(523, [Decimal("4.79"), Decimal("0"), Decimal("0.44")]) == [479, 0, 44]
    # the provider's per-line figures off by a cent from its own total: still exact
    parts = spread(101, [Decimal("0.25"), Decimal("0.25"), Decimal("0.50")])
    assert sum(parts) == 101 and parts == [25, 25, 51]
    assert spread(0, [Decimal(0), Decimal(0)]) == [0, 0]
    with pytest.raises(ValueError):
        spread(10, [Decimal(0)])  # tax stated but carried by no line
    with pytest.raises(ValueError):
        spread(10, [])


def test_json_carries_decimals_as_numbers_both_ways() -> None:
    text = dumps({"amount": Decimal("12.50"), "lines": [Decimal("-0.05")], "name": "x"})
    assert text == b'{"amount":12.50,"lines":[-0.05],"name":"x"}'
    back = loads(text)
    assert back["amount"] == Decimal("12.50") and isinstance(back["amount"], Decimal)
    # text stays text, whatever it spells; a float is refused outright
    assert loads(dumps({"s": '12.50", "x": 1'})) == {"s": '12.50", "x": 1'}
    with pytest.raises(TypeError):
        dumps({"amount": 12.5})
