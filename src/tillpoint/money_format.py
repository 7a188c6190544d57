"""Amounts for people: integer minor units formatted for a locale with Babel (CLDR data).

The number of decimals is always the currency's ISO 4217 exponent from
:func:`tillpoint.money.exponent` (JPY 0, USD 2, KWD 3), never CLDR's own opinion (CLDR
shows HUF and IQD without decimals, which would round an exact amount away). The
division is exact: ``Decimal`` scaled by a power of ten, no float anywhere.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, parse_pattern

from tillpoint.money import exponent

DEFAULT_LOCALE = "en_US"
# An Accept-Language header longer than this, or with more entries, is read only so far:
# a client cannot make us parse a megabyte of language tags.
_MAX_HEADER = 500
_MAX_TAGS = 12


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale | None:
    """Babel's locale for ``en_US``/``en-US``/``de``; None if CLDR does not know it."""
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def known_locale(tag: str) -> bool:
    """Whether Babel has data for this locale identifier."""
    return bool(tag) and _locale(tag) is not None


@lru_cache(maxsize=256)
def _pattern(locale: str, decimals: int) -> NumberPattern:
    """The locale's standard currency pattern with exactly ``decimals`` fraction digits."""
    found = _locale(locale) or _locale(DEFAULT_LOCALE)
    assert found is not None  # en_US ships with Babel
    pattern = copy.copy(parse_pattern(found.currency_formats["standard"]))
    pattern.frac_prec = (decimals, decimals)
    return pattern


def format_money(amount: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """``123456, "USD", "en_US"`` → ``$1,234.56``; ``123456, "EUR", "de_DE"`` →
    ``1.234,56 €``; ``1500, "JPY"`` → ``¥1,500``. An unknown locale falls back to en_US."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amounts are integer minor units")
    decimals = exponent(currency)
    value = Decimal(amount).scaleb(-decimals)
    loc = _locale(locale) or _locale(DEFAULT_LOCALE)
    text: str = _pattern(str(loc), decimals).apply(
        value, loc, currency=currency, currency_digits=False
    )
    return text


def negotiate_locale(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The first locale of an ``Accept-Language`` header (by ``q``) that Babel knows, as
    ``de_DE``; ``default`` when the header names none (or is absent)."""
    if not accept_language:
        return default
    ranked: list[tuple[Decimal, int, str]] = []
    for index, part in enumerate(accept_language[:_MAX_HEADER].split(",")[:_MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        quality = Decimal(1)
        if params.strip().startswith("q="):
            try:
                quality = Decimal(params.strip()[2:7])
            except ArithmeticError:
                continue
        if tag and tag != "*" and quality.is_finite() and quality > 0:
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        found = _locale(tag)
        if found is not None:
            return str(found)
    return default
