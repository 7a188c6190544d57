"""Exact money: integer amounts in a currency's minor unit, explicit rounding, exact allocation.

No floats anywhere. Percentages are given in basis points (1 bp = 0.01 %), so
12.5 % is ``1250``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# ISO 4217 minor-unit exponents that differ from the default of 2.
_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}
# Currencies we accept; the exponent table above covers the rest of ISO 4217 we know of.
KNOWN_CURRENCIES: frozenset[str] = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "MXN",
        "BRL",
        "INR",
        "SGD",
        "HKD",
        "ZAR",
        "ILS",
        "AED",
        "CNY",
        "TRY",
        *_EXPONENTS,
    }
)

BASIS_POINTS = 10_000
# The largest amount an input may name (a price, a coupon's fixed value or cap, a refund):
# 10^9 minor units ($10,000,000.00; ¥1,000,000,000). Amount columns are 32-bit INTEGER
# (at most 2,147,483,647): a larger input would fail in the database, not as a 422.
MAX_AMOUNT = 1_000_000_000


class Rounding(StrEnum):
    """How a fractional minor unit is resolved."""

    half_up = "half_up"  # away from zero at exactly .5
    half_even = "half_even"  # banker's rounding
    down = "down"  # towards zero
    up = "up"  # away from zero


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (2 unless ISO says otherwise)."""
    check_currency(currency)
    return _EXPONENTS.get(currency, 2)


def check_currency(currency: str) -> str:
    """Return the code if it is a currency we know, else raise ``ValueError``."""
    if currency not in KNOWN_CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}")
    return currency


def divide(numerator: int, denominator: int, rounding: Rounding = Rounding.half_up) -> int:
    """Integer division ``numerator / denominator`` rounded as asked (denominator > 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    negative = numerator < 0
    q, r = divmod(abs(numerator), denominator)
    if r:
        twice = 2 * r
        if (
            rounding is Rounding.up
            or (rounding is Rounding.half_up and twice >= denominator)
            or (
                rounding is Rounding.half_even
                and (twice > denominator or (twice == denominator and q % 2))
            )
        ):
            q += 1
    return -q if negative else q


def percentage(amount: int, basis_points: int, rounding: Rounding = Rounding.half_up) -> int:
    """``amount * basis_points / 10000`` in minor units, rounded as asked."""
    return divide(amount * basis_points, BASIS_POINTS, rounding)


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` across ``weights`` proportionally so the parts sum to ``amount`` exactly.

    Largest-remainder method: each part gets its floor share, and the minor units
    left over go one each to the largest remainders (earliest index wins a tie),
    so the result is deterministic. Weights are non-negative; if they are all
    zero the amount is split evenly.
    """
    if any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    if not weights:
        if amount:
            raise ValueError("cannot allocate a non-zero amount over no weights")
        return []
    total = sum(weights)
    if total == 0:
        weights = [1] * len(weights)
        total = len(weights)
    sign = -1 if amount < 0 else 1
    magnitude = abs(amount)
    shares = [divmod(magnitude * w, total) for w in weights]
    parts = [q for q, _ in shares]
    left = magnitude - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-shares[i][1], i))
    for i in order[:left]:
        parts[i] += 1
    return [sign * p for p in parts]


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of one ISO 4217 currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, quantity: int) -> Money:
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise TypeError("Money can only be multiplied by an int quantity")
        return Money(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def percentage(self, basis_points: int, rounding: Rounding = Rounding.half_up) -> Money:
        """This amount times ``basis_points / 10000``, rounded as asked."""
        return Money(percentage(self.amount, basis_points, rounding), self.currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split across ``weights`` so the parts sum exactly (see :func:`allocate`)."""
        return [Money(p, self.currency) for p in allocate(self.amount, weights)]

    def format(self) -> str:
        """Human text such as ``USD 12.50`` (display only; never parsed back)."""
        exp = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        return f"{self.currency} {sign}{whole}" + (f".{frac:0{exp}d}" if exp else "")


def parse_decimal(text: str, currency: str) -> int:
    """Parse a decimal string such as ``"12.50"`` into minor units, refusing excess precision."""
    exp = exponent(currency)
    text = text.strip()
    negative = text.startswith("-")
    body = text.lstrip("+-")
    whole, _, frac = body.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > exp:
        raise ValueError(f"not a {currency} amount: {text!r}")
    value: int = int(whole) * 10**exp + int(frac.ljust(exp, "0") or "0")
    return -value if negative else value
