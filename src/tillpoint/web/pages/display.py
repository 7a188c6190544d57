"""How the pages show amounts: the same text the page's JavaScript produces with
``Intl.NumberFormat("en-US", {style: "currency"})``, so server- and browser-drawn
prices read alike."""

from __future__ import annotations

from tillpoint.money import exponent

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}


def display_money(amount: int, currency: str) -> str:
    """``1250, "USD"`` → ``$12.50``; currencies without a symbol here show their code."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    number = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    symbol = SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{currency}\u00a0{number}"
    return f"{sign}{symbol}{number}"
