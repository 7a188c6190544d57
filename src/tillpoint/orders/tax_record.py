"""What the tax provider records of an order: its sale when paid, a void when it is
cancelled before any refund, and each refund (tax share per line, exact).

Queued through ``tax.public`` in the unit of work of the change, sent later by the
sweeper: a provider outage never blocks nor undoes an order (tax/recording.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.money import divide
from tillpoint.orders.models import Order, Refund
from tillpoint.orders.prorate import SHIPPING
from tillpoint.tax.public import (
    RefundedLine,
    SaleAddress,
    SaleLine,
    TaxRefund,
    TaxSale,
    queue_tax_refund,
    queue_tax_sale,
    queue_tax_void,
    records_transactions,
)

log = logging.getLogger(__name__)


def _address(stored: dict[str, Any] | None) -> SaleAddress | None:
    if not stored or not stored.get("country"):
        return None
    return SaleAddress(
        country=str(stored["country"]),
        region=str(stored.get("state") or ""),
        postal_code=str(stored.get("zip_code") or ""),
        city=str(stored.get("city") or ""),
        line1=str(stored.get("street1") or ""),
    )


def queue_sale(
    s: AsyncSession,
    settings: Settings,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    categories: list[str],
    now: datetime,
) -> None:
    """Queue the paid order's sale (``order``/``lines``: the rows just inserted)."""
    if not records_transactions(settings):
        return
    address = _address(order["shipping_address"]) or _address(order["billing_address"])
    if address is None:
        log.warning("order has no address: no tax transaction", extra={"order_id": order["id"]})
        return
    sale_lines = tuple(
        SaleLine(
            line_id=ln["id"], item_code=ln["sku"] or ln["product_id"], description=ln["name"],
            quantity=ln["quantity"], unit_price=ln["unit_price"], discount=ln["discount"],
            amount=ln["total"] - ln["tax"], tax=ln["tax"], tax_category=category,
        )
        for ln, category in zip(lines, categories, strict=True)
    )  # fmt: skip
    shipping_tax = order["tax_total"] - sum(ln.tax for ln in sale_lines)
    sale = TaxSale(
        order_id=order["id"], code=order["number"], date=now.date().isoformat(),
        currency=order["currency"],
        customer_code=order["user_id"] or order["email"] or order["id"], address=address,
        lines=sale_lines, shipping_amount=order["shipping_refundable"] - shipping_tax,
        shipping_tax=shipping_tax,
    )  # fmt: skip
    queue_tax_sale(s, settings, sale, now)


def _share(tax: int, part: int, whole: int) -> int:
    return divide(tax * part, whole) if whole > 0 else 0


def refund_record(order: Order, refund: Refund, units: dict[str, int], now: datetime) -> TaxRefund:
    """The refund as the provider records it: each part's amount split into the tax it
    gives back (the line's tax in proportion) and the rest."""
    by_id = {line.id: line for line in order.lines}
    lines = []
    for line_id, gross in refund.allocation.items():
        line = by_id.get(line_id)
        if line is None or gross <= 0:
            continue
        tax = _share(line.tax, gross, line.total)
        lines.append(RefundedLine(line_id, units.get(line_id) or line.quantity, gross - tax, tax))
    ship_gross = int(refund.allocation.get(SHIPPING, 0))
    ship_tax_total = order.tax_total - sum(line.tax for line in order.lines)
    ship_tax = _share(ship_tax_total, ship_gross, order.shipping_refundable)
    return TaxRefund(
        order_id=order.id, code=refund.id, date=now.date().isoformat(), lines=tuple(lines),
        shipping_amount=ship_gross - ship_tax, shipping_tax=ship_tax,
    )  # fmt: skip


def queue_refund(
    s: AsyncSession,
    settings: Settings,
    order: Order,
    refund: Refund,
    units: dict[str, int],
    *,
    cancel: bool,
    now: datetime,
) -> None:
    """A succeeded refund: a cancel with no refund before it voids the sale; any other
    refund (a cancel after partial refunds included) is recorded as a refund."""
    earlier = [r for r in order.refunds if r.id != refund.id and r.status == "succeeded"]
    if cancel and not earlier:
        queue_tax_void(s, settings, order.id, now)
        return
    queue_tax_refund(s, settings, refund_record(order, refund, units, now), now)
