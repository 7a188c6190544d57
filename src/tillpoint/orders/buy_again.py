"""Buy again: an order's lines go back into the owner's cart at today's prices.

Each line is added on its own (``cart.service.add_item``: today's price, today's stock),
so one line that cannot be had (sold out, withdrawn, another currency) does not stop the
rest; the answer says which were added and, in words, why the others were not.
Subscription lines are not repeated: a subscription is started afresh from the shop.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.cart.public import add_item
from tillpoint.errors import NotFound, TillpointError
from tillpoint.ids import is_valid_id
from tillpoint.orders.models import Order
from tillpoint.runtime import Runtime


@dataclass(frozen=True, slots=True)
class LineOutcome:
    name: str
    quantity: int
    product_id: str
    variant_id: str | None
    code: str | None = None  # None: added
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BuyAgainReport:
    added: tuple[LineOutcome, ...]
    not_added: tuple[LineOutcome, ...]


_REASONS = {
    "out_of_stock": "Not enough in stock right now.",
    "product_not_found": "No longer sold.",
    "product_inactive": "No longer sold.",
    "variant_not_found": "This option is no longer sold.",
    "currency_mismatch": "Priced in another currency than your cart.",
}


async def buy_again(rt: Runtime, *, order_id: str, user_id: str, cart_id: str) -> BuyAgainReport:
    """Add what ``user_id``'s order ``order_id`` held to the cart ``cart_id``; 404
    ``order_not_found`` if the order is not this user's (never saying it exists)."""
    if not is_valid_id(order_id, "ord"):
        raise NotFound("No such order.", code="order_not_found")
    async with rt.db.transaction() as s:
        order = await s.get(Order, order_id)
        if order is None or order.user_id != user_id:
            raise NotFound("No such order.", code="order_not_found")
        lines = [
            LineOutcome(line.name, line.quantity, line.product_id, line.variant_id)
            for line in sorted(order.lines, key=lambda line: line.position)
        ]
        recurring = {line.product_id for line in order.lines if line.recurring}
    added: list[LineOutcome] = []
    refused: list[LineOutcome] = []
    for line in lines:
        if line.product_id in recurring:
            refused.append(_refused(line, "subscription", "Start a subscription from the shop."))
            continue
        try:
            await add_item(
                rt,
                cart_id,
                product_id=line.product_id,
                variant_id=line.variant_id,
                quantity=line.quantity,
            )
        except TillpointError as exc:
            refused.append(_refused(line, exc.code, _REASONS.get(exc.code, exc.message)))
        else:
            added.append(line)
    return BuyAgainReport(tuple(added), tuple(refused))


def _refused(line: LineOutcome, code: str, reason: str) -> LineOutcome:
    return LineOutcome(line.name, line.quantity, line.product_id, line.variant_id, code, reason)
