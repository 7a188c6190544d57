"""A checkout as its owner sees it (:class:`CheckoutView`, priced now) and its public
answer built from it (:class:`CheckoutOut`, the response model); pricing a checkout from
its cart and context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.addresses.public import Address
from tillpoint.checkout import machine
from tillpoint.checkout.cart_facts import CartFacts
from tillpoint.checkout.context import CheckoutContext, stored
from tillpoint.checkout.machine import Event, State
from tillpoint.checkout.models import Checkout
from tillpoint.errors import ServiceUnavailable
from tillpoint.pricing.public import (
    OrderTotal,
    PricingInput,
    ShippingNoLongerOffered,
    price_checkout,
)
from tillpoint.runtime import Runtime
from tillpoint.shipping.public import ShippingOption


@dataclass(frozen=True, slots=True)
class CheckoutView:
    """A checkout as its owner sees it, with totals priced now."""

    id: str
    state: State
    version: int
    context: CheckoutContext
    expires_at: datetime
    created_at: datetime
    totals: OrderTotal | None
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def allowed_events(self) -> tuple[Event, ...]:
        return machine.allowed_events(self.state, include_server=False)

    @property
    def totals_changed(self) -> bool:
        quoted = self.context.quoted_totals
        return bool(
            self.totals is not None
            and quoted is not None
            and list(self.totals.money_fingerprint()) != quoted
        )


class CheckoutTotalsOut(BaseModel):
    """The totals priced now (integer minor units)."""

    currency: str
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    tax_inclusive: bool
    tax_calculated: bool
    lines: list[dict[str, Any]]
    shipping_line: dict[str, Any]
    tax_breakdown: list[dict[str, Any]]
    promotions: list[dict[str, Any]]


class ContextOut(BaseModel):
    """The context as answered: its parts as stored, plus the totals priced now."""

    user_type: Literal["guest", "registered", "unknown"]
    user_id: str | None
    cart_id: str | None
    currency: str | None
    guest_info: dict[str, Any] | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    address_validation: dict[str, Any] | None
    shipping_method: dict[str, Any] | None
    payment_method: dict[str, Any] | None
    payment: dict[str, Any] | None
    totals: CheckoutTotalsOut | None
    totals_changed: bool
    promotions: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class CheckoutOut(BaseModel):
    """A checkout's public answer (the API's, and a 412's ``details.current``)."""

    id: str
    state: str
    version: int
    allowed_events: list[str]
    expires_at: str
    created_at: str
    context: ContextOut

    @classmethod
    def of(cls, view: CheckoutView) -> CheckoutOut:
        ctx, totals = view.context, view.totals
        return cls(
            id=view.id,
            state=view.state.value,
            version=view.version,
            allowed_events=[e.value for e in view.allowed_events],
            expires_at=view.expires_at.isoformat(),
            created_at=view.created_at.isoformat(),
            context=ContextOut(
                user_type=cast(Any, ctx.user_type),
                user_id=ctx.user_id,
                cart_id=ctx.cart_id,
                currency=ctx.currency,
                guest_info=stored(ctx.guest_info),
                shipping_address=stored(ctx.shipping_address),
                billing_address=stored(ctx.billing_address),
                address_validation=stored(ctx.address_validation),
                shipping_method=stored(ctx.shipping_method),
                payment_method=stored(ctx.payment_method),
                payment=stored(ctx.payment),
                totals=CheckoutTotalsOut.model_validate(totals.to_json()) if totals else None,
                totals_changed=view.totals_changed,
                promotions=list(totals.promotions) if totals else [],
                errors=[*ctx.errors, *view.errors],
            ),
        )


def address_of(ctx: CheckoutContext) -> Address | None:
    raw = stored(ctx.shipping_address)
    return Address.model_validate(raw) if raw else None


def _shipping(ctx: CheckoutContext) -> ShippingOption | None:
    raw = stored(ctx.shipping_method)
    return ShippingOption.from_json(raw) if raw else None


async def price(
    rt: Runtime, s: AsyncSession, row: Checkout, ctx: CheckoutContext, cart: CartFacts
) -> OrderTotal:
    return await price_checkout(
        rt,
        s,
        PricingInput(
            cart_id=cart.cart_id,
            currency=cart.currency,
            lines=cart.lines,
            user_id=row.user_id,
            address=address_of(ctx),
            shipping=_shipping(ctx),
            has_coupons=cart.has_coupons,
        ),
    )


async def try_price(
    rt: Runtime, s: AsyncSession, row: Checkout, ctx: CheckoutContext, cart: CartFacts
) -> tuple[OrderTotal | None, tuple[dict[str, Any], ...]]:
    """Totals, or None and why (a read must still show the checkout when tax is down)."""
    try:
        return await price(rt, s, row, ctx, cart), ()
    except ServiceUnavailable as exc:
        return None, ({"code": exc.code, "message": exc.message},)
    except ShippingNoLongerOffered:
        return None, (
            {"code": "shipping_method_not_offered", "message": "Choose a shipping method again."},
        )


def view_of(
    row: Checkout,
    ctx: CheckoutContext,
    totals: OrderTotal | None,
    errors: tuple[dict[str, Any], ...] = (),
) -> CheckoutView:
    """The checkout as its owner sees it: ``ctx`` is the row's context, as saved."""
    return CheckoutView(
        id=row.id,
        state=State(row.state),
        version=row.version,
        context=ctx,
        expires_at=row.expires_at,
        created_at=row.created_at,
        totals=totals,
        errors=errors,
    )
