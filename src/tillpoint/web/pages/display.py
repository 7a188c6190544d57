"""How the pages show amounts: Babel's format for the locale the request negotiated
(``money_locale`` in the template's context, from ``Accept-Language`` or the shop's
``shop_locale``), the same locale the page's scripts hand to ``Intl.NumberFormat``."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context

from tillpoint.money_format import DEFAULT_LOCALE, format_money


@pass_context
def money_filter(context: Any, amount: int, currency: str) -> str:
    """``{{ 1250 | money("USD") }}`` → ``$12.50`` (en_US) or ``12,50 $`` (de_DE)."""
    locale = str(context.get("money_locale") or DEFAULT_LOCALE).replace("-", "_")
    return format_money(amount, currency, locale)
