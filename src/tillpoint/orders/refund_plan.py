"""What a refund request means for the locked order: the money per part and the units it
refunds and puts back on the shelf. Checked here, before the gateway is asked.

The rules (documented in docs/api.md, "Orders for staff"):

- ``lines`` name the units refunded: each line's money is its share of what the customer
  paid for the line (``total * units / quantity``, the last unit takes the remainder),
  capped at what is left of it. ``restock: true`` on a line puts those units back: first
  the ones not shipped yet, then shipped ones (a return). At most ``quantity - restocked``.
- ``amount`` alone refunds money and restocks nothing. With ``lines`` it replaces the
  lines' computed money (at most their sum), prorated over them.
- The old top-level ``restock: true``: with no ``lines`` and a refund of everything left,
  it restocks every unit not shipped and not restocked yet (shipped units come back only
  through a line with ``restock``); with a partial amount it is refused
  (``restock_needs_lines``), as it is next to ``lines``.
- A cancel (nothing shipped) refunds everything left and restocks every unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tillpoint.errors import FieldError, InvalidInput
from tillpoint.orders.fulfilment import unshipped
from tillpoint.orders.models import Order, OrderLine
from tillpoint.orders.prorate import SHIPPING, prorate_refund


class RefundTooLarge(InvalidInput):
    code = "refund_exceeds_refundable"


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: str
    quantity: int
    restock: bool = False


@dataclass(slots=True)
class RefundPlan:
    amount: int
    allocation: dict[str, int]
    refunded_units: dict[str, int] = field(default_factory=dict)  # line id -> units
    restock: dict[str, int] = field(default_factory=dict)  # line id -> units back
    returned: dict[str, int] = field(default_factory=dict)  # of those, units that shipped


def refundable(order: Order) -> dict[str, int]:
    parts = {line.id: line.total - line.refunded_amount for line in order.lines}
    parts[SHIPPING] = order.shipping_refundable - order.shipping_refunded
    return parts


def _too_large(remaining: int, amount: int) -> RefundTooLarge:
    return RefundTooLarge(
        f"At most {remaining} can still be refunded.",
        details={"refundable": remaining, "requested": amount},
    )


def plan_by_amount(order: Order, amount: int | None, restock: bool) -> RefundPlan:
    """A refund of ``amount`` (None: everything left) prorated over lines and shipping."""
    parts = refundable(order)
    remaining = sum(parts.values())
    value = remaining if amount is None else amount
    if value <= 0 or value > remaining:
        raise _too_large(remaining, value)
    if restock and value != remaining:
        raise InvalidInput(
            "A partial refund restocks only the lines it names: send lines with restock.",
            code="restock_needs_lines",
            fields=[FieldError(("restock",), "restock_needs_lines", "name lines to restock")],
        )
    plan = RefundPlan(value, prorate_refund(value, parts))
    if restock:
        plan.restock = {ln.id: unshipped(ln) for ln in order.lines if unshipped(ln) > 0}
    return plan


def plan_cancel(order: Order) -> RefundPlan:
    """Everything left refunded (possibly nothing) and every unit back on the shelf."""
    parts = refundable(order)
    remaining = sum(parts.values())
    allocation = prorate_refund(remaining, parts) if remaining > 0 else {}
    plan = RefundPlan(remaining, allocation)
    plan.restock = {
        ln.id: ln.quantity - ln.restocked_quantity
        for ln in order.lines
        if ln.quantity > ln.restocked_quantity
    }
    return plan


def _line_money(line: OrderLine, units: int) -> int:
    before = line.total * line.refunded_quantity // line.quantity
    after = line.total * (line.refunded_quantity + units) // line.quantity
    return min(after - before, line.total - line.refunded_amount)


def _check_line(i: int, want: RefundLine, line: OrderLine | None) -> FieldError | None:
    if line is None:
        return FieldError(("lines", i, "line_id"), "unknown_line", "not a line of this order")
    if want.quantity > line.quantity - line.refunded_quantity:
        left = line.quantity - line.refunded_quantity
        return FieldError(
            ("lines", i, "quantity"), "exceeds_refundable", f"at most {left} can be refunded"
        )
    if want.restock and want.quantity > line.quantity - line.restocked_quantity:
        left = line.quantity - line.restocked_quantity
        return FieldError(
            ("lines", i, "quantity"), "exceeds_restockable", f"at most {left} can be restocked"
        )
    return None


def plan_by_lines(
    order: Order, lines: Sequence[RefundLine], amount: int | None, restock_flag: bool
) -> RefundPlan:
    """A refund of the units ``lines`` name; 422 with the path of each bad line."""
    if restock_flag:
        raise InvalidInput(
            "Say restock per line, not for the whole refund.", code="restock_needs_lines",
            fields=[FieldError(("restock",), "restock_with_lines", "use lines[].restock")],
        )  # fmt: skip
    by_id = {line.id: line for line in order.lines}
    units: dict[str, int] = {}
    back: dict[str, int] = {}
    problems = []
    for i, want in enumerate(lines):
        line = by_id.get(want.line_id)
        problem = _check_line(i, want, line)
        if problem is None and line is not None and line.id in units:
            problem = FieldError(("lines", i, "line_id"), "duplicate_line", "named twice")
        if problem is not None:
            problems.append(problem)
            continue
        units[want.line_id] = want.quantity
        if want.restock:
            back[want.line_id] = want.quantity
    if problems:
        raise InvalidInput("Some lines cannot be refunded so.", code="invalid_refund_lines",
                           fields=problems)  # fmt: skip
    money = {lid: _line_money(by_id[lid], q) for lid, q in units.items()}
    most = sum(money.values())
    value = most if amount is None else amount
    if value <= 0 or value > most:
        raise _too_large(most, value)
    allocation = money if amount is None else prorate_refund(value, money)
    return RefundPlan(value, {k: v for k, v in allocation.items() if v}, units, back)


def apply_plan(order: Order, plan: RefundPlan, sign: int) -> None:
    """Book (``sign`` 1) or take back (-1) the plan's money and units on the order."""
    by_id = {line.id: line for line in order.lines}
    for part, value in plan.allocation.items():
        if part == SHIPPING:
            order.shipping_refunded += sign * value
        else:
            by_id[part].refunded_amount += sign * value
    order.refunded_total = (
        sum(line.refunded_amount for line in order.lines) + order.shipping_refunded
    )
    for line_id, units in plan.refunded_units.items():
        by_id[line_id].refunded_quantity += sign * units
    for line_id, units in plan.restock.items():
        line = by_id[line_id]
        # Unshipped units go back first; the rest had shipped (returns).
        if sign > 0:
            plan.returned[line_id] = max(0, units - unshipped(line))
        returned = plan.returned.get(line_id, 0)
        line.restocked_quantity += sign * units
        line.returned_quantity += sign * returned
