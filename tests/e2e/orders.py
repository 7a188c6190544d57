"""Orders made straight through the real order insert (a sandbox payment, no checkout), for
browser tests that need an order to look at rather than a purchase to walk through."""

from __future__ import annotations

from sqlalchemy import select

from tests.e2e.conftest import LiveServer
from tillpoint.auth.models import User
from tillpoint.catalog.models import Product
from tillpoint.ids import new_id
from tillpoint.orders.service import LineDraft, OrderDraft, insert_order_rows
from tillpoint.payments.gateway import CreateIntent
from tillpoint.runtime import Runtime


def place_demo_order(live: LiveServer, email: str, names: dict[str, int]) -> tuple[str, str]:
    """A paid order for these demo products (name: quantity) through the real order
    insert with a sandbox payment; (its id, its number)."""

    async def place(rt: Runtime) -> tuple[str, str]:
        async with rt.db.transaction() as s:
            user_id = await s.scalar(select(User.id).where(User.email == email))
            products = list(await s.scalars(select(Product).where(Product.name.in_(names))))
        lines = tuple(
            LineDraft(p.id, None, p.name, names[p.name], p.price, p.price * names[p.name], 0,
                      0, p.price * names[p.name])
            for p in products
        )  # fmt: skip
        total = sum(line.total for line in lines)
        checkout, gateway = new_id("chk"), live.app.state.gateway
        intent = await gateway.create_payment_intent(
            CreateIntent(amount=total, currency=products[0].currency,
                         idempotency_key=f"{checkout}:1:pay", payment_method_id="pm_card_visa",
                         confirm=True)
        )  # fmt: skip
        draft = OrderDraft(
            checkout_id=checkout, currency=products[0].currency, subtotal=total,
            discount_total=0, shipping_total=0, tax_total=0, total=total, lines=lines,
            user_id=user_id, email=email,
        )  # fmt: skip
        async with rt.db.transaction() as s:
            inserted = await insert_order_rows(
                s, rt.settings, draft, intent, gateway=gateway.name, held_for_review=False,
                now=rt.clock.now(),
            )  # fmt: skip
        return inserted.id, str(inserted.number)

    return live.call(place)
