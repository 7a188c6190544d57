"""An order as the shopper reads it: amounts already formatted for their locale (Babel,
the same text the emails carry) and statuses in words, next to the API's integers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tillpoint.money_format import format_money
from tillpoint.orders.models import Fulfillment, Order, Refund

ORDER_STATUS_WORDS = {
    "paid": "Paid",
    "held_for_review": "Being reviewed",
    "partially_refunded": "Partly refunded",
    "refunded": "Refunded",
}
FULFILLMENT_STATUS_WORDS = {
    "unfulfilled": "Not shipped yet",
    "partially_fulfilled": "Partly shipped",
    "fulfilled": "Shipped",
    "cancelled": "Cancelled",
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
    text: str  # the refund in a sentence: amount, what it named, what went back to stock


@dataclass(frozen=True, slots=True)
class FulfillmentDisplay:
    text: str  # "Shipped with UPS: 2 x Tea"
    carrier: str
    tracking_number: str
    tracking_url: str | None


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
    fulfillment: str
    fulfillments: list[FulfillmentDisplay]


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
            RefundDisplay(
                money(r.amount),
                _words(REFUND_STATUS_WORDS, r.status),
                _refund_text(order, r, money(r.amount)),
            )
            for r in order.refunds
        ],
        fulfillment=_words(FULFILLMENT_STATUS_WORDS, order.fulfillment_status),
        fulfillments=[_fulfillment(order, f) for f in order.fulfillments],
    )


def _items(order: Order, pairs: list[tuple[str, int]]) -> str:
    names = {line.id: line.name for line in order.lines}
    return ", ".join(f"{q} \N{MULTIPLICATION SIGN} {names.get(lid, lid)}" for lid, q in pairs)


def _refund_text(order: Order, refund: Refund, amount: str) -> str:
    status = _words(REFUND_STATUS_WORDS, refund.status)
    text = f"{status}: {amount}"
    if refund.reason:
        text += f" ({refund.reason})"
    back = [(str(r.get("line_id")), int(r.get("quantity") or 0)) for r in refund.restocked or []]
    if back:
        text += f"; taken back: {_items(order, back)}"
    return text


def _fulfillment(order: Order, f: Fulfillment) -> FulfillmentDisplay:
    items = _items(order, [(ln.order_line_id, ln.quantity) for ln in f.lines])
    return FulfillmentDisplay(
        f"Shipped with {f.carrier}: {items}", f.carrier, f.tracking_number, f.tracking_url
    )


def order_display_json(order: Order, locale: str) -> dict[str, object]:
    return asdict(order_display(order, locale))
