"""``{{ cents|money }}``: 3200 → $32.00, in integer arithmetic (no float holds money)."""

from django import template

register = template.Library()


@register.filter
def money(cents: int, currency: str = "USD") -> str:
    whole, part = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{whole:,}.{part:02d}"
