"""Amounts for people: Babel formats exact minor units per locale and currency exponent."""

from __future__ import annotations

import pytest

from tillpoint.money_format import format_money, known_locale, negotiate_locale

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123456, "USD", "en_US", "$1,234.56"),
        (123456, "EUR", "de_DE", f"1.234,56{NBSP}€"),
        (123456, "EUR", "fr_FR", f"1\u202f234,56{NBSP}€"),
        (1500, "JPY", "en_US", "¥1,500"),  # exponent 0: no decimals, no division
        (1500, "JPY", "ja_JP", "￥1,500"),
        (1234, "KWD", "en_US", "KWD1.234"),  # exponent 3
        (1234567, "BHD", "en_US", "BHD1,234.567"),
        (-5, "USD", "en_US", "-$0.05"),
        (0, "GBP", "en_GB", "£0.00"),
        # CLDR would show HUF with no decimals and round 12.34 away: ISO's 2 are kept
        (1234, "HUF", "hu_HU", f"12,34{NBSP}Ft"),
        (1_000_000_000, "USD", "en_US", "$10,000,000.00"),
    ],
)
def test_amounts_format_for_the_locale_with_the_currency_exponent(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert format_money(amount, currency, locale) == expected


def test_unknown_locale_falls_back_to_en_us() -> None:
    assert format_money(250, "USD", "xx_YY") == "$2.50"


def test_only_integers_are_amounts() -> None:
    with pytest.raises(TypeError):
        format_money(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_money(True, "USD")
    with pytest.raises(ValueError, match="unknown currency"):
        format_money(100, "XXX")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en_US"),
        ("", "en_US"),
        ("de-DE,de;q=0.9,en;q=0.8", "de_DE"),
        ("fr;q=0.5, en-GB;q=0.9", "en_GB"),  # by weight, not position
        ("xx-YY, de-CH;q=0.4", "de_CH"),  # the first one Babel knows
        ("*", "en_US"),
        ("de;q=0", "en_US"),  # q=0 means "not this one"
        ("de;q=abc, fr;q=NaN, ja", "ja"),
        ("," * 10_000, "en_US"),
    ],
)
def test_accept_language_picks_a_locale_babel_knows(header: str | None, expected: str) -> None:
    assert negotiate_locale(header) == expected


def test_known_locale() -> None:
    assert known_locale("de_DE") and known_locale("en-US")
    assert not known_locale("xx_YY") and not known_locale("")
