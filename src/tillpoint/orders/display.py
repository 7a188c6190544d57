"""An order as the shopper reads it: amounts already formatted for their locale (Babel,
the same text the emails carry) and statuses in words, next to the API's integers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tillpoint.money_format import format_money
from tillpoint.orders.models import Order

ORDER_STATUS_WORDS = {
    "paid": "Paid",
    "held_for_review": "Being reviewed",
    "partially_refunded": "Partly refunded",
    "refunded": "Refunded",
}
REFUND_STATUS_WORDS = {
    "pending": "Refund in progress",
    "succeeded": "Refunded",
    "failed": "Refund failed",
}


@dataclass(frozen=True, slots=True)
class LineDisplay:
    unit_price: str
    amount: str  # unit price x quantity: the lines add up to the subtotal
    refunded: str | None


@dataclass(frozen=True, slots=True)
class RefundDisplay:
    amount: str
    status: str


@dataclass(frozen=True, slots=True)
class OrderDisplay:
    locale: str
    status: str
    subtotal: str
    discount: str | None
    shipping: str
    tax: str
    total: str
    refunded: str | None
    lines: list[LineDisplay]
    refunds: list[RefundDisplay]


def _words(table: dict[str, str], status: str) -> str:
    return table.get(status) or status.replace("_", " ").capitalize()


def order_display(order: Order, locale: str) -> OrderDisplay:
    """Display strings for ``order`` in ``locale`` (``de_DE``: ``1.234,56 $``)."""

    def money(amount: int) -> str:
        return format_money(amount, order.currency, locale)

    return OrderDisplay(
        locale=locale,
        status=_words(ORDER_STATUS_WORDS, order.status),
        subtotal=money(order.subtotal),
        discount=money(-order.discount_total) if order.discount_total else None,
        shipping=money(order.shipping_total),
        tax=money(order.tax_total),
        total=money(order.total),
        refunded=money(order.refunded_total) if order.refunded_total else None,
        lines=[
            LineDisplay(
                money(line.unit_price),
                money(line.amount),
                money(line.refunded_amount) if line.refunded_amount else None,
            )
            for line in order.lines
        ],
        refunds=[
            RefundDisplay(money(r.amount), _words(REFUND_STATUS_WORDS, r.status))
            for r in order.refunds
        ],
    )


def order_display_json(order: Order, locale: str) -> dict[str, object]:
    return asdict(order_display(order, locale))
