"""Pricing a checkout from stored data: lines → discounts → shipping → tax → totals.

The collaborators (address validation, shipping, tax) are built once per runtime from
the settings (:func:`build_pricing_services`, called by the composition root) and read
as ``rt.pricing``; a runtime may be built with others — e.g. a Stripe Tax client pointed
at a recorded server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.addresses.public import Address, AddressValidationService, build_address_validation
from tillpoint.clock import Clock
from tillpoint.config import Settings
from tillpoint.pricing.discounts import discounts_for
from tillpoint.pricing.totals import (
    OrderTotal,
    compute_totals,
    shipping_discount,
    taxable_lines,
)
from tillpoint.promotions.public import NO_DISCOUNTS, PricingLine
from tillpoint.runtime import Runtime
from tillpoint.shipping.public import (
    ShippingCalculationService,
    ShippingOption,
    ShippingRequest,
    build_shipping_service,
)
from tillpoint.tax.public import TaxAddress, TaxCalculationService, TaxRequest, build_tax_service


@dataclass
class PricingServices:
    addresses: AddressValidationService
    shipping: ShippingCalculationService
    tax: TaxCalculationService


def build_pricing_services(settings: Settings, clock: Clock) -> PricingServices:
    """The pricing collaborators ``settings`` choose (built by the composition root)."""
    return PricingServices(
        build_address_validation(settings, clock),
        build_shipping_service(settings, clock),
        build_tax_service(settings),
    )


@dataclass(frozen=True, slots=True)
class PricingInput:
    """Everything a price depends on, read from storage by the caller."""

    cart_id: str
    currency: str
    lines: tuple[PricingLine, ...]
    user_id: str | None = None
    address: Address | None = None
    shipping: ShippingOption | None = None
    # False when the caller's own read found no coupon applied to the cart: the
    # discounts are then known to be none, without reading the coupons again.
    has_coupons: bool = True


def shipping_request(
    currency: str, lines: Sequence[PricingLine], address: Address
) -> ShippingRequest:
    return ShippingRequest(
        currency=currency,
        country=address.country,
        region=address.state,
        postal_code=address.zip_code,
        weight_grams=sum(line.weight_grams * line.quantity for line in lines),
        subtotal=sum(line.amount for line in lines),
    )


class ShippingNoLongerOffered(Exception):
    """The stored shipping choice is not offered for the current address and cart."""


async def price_checkout(rt: Runtime, s: AsyncSession, inp: PricingInput) -> OrderTotal:
    """Totals for ``inp``: tax only once there is an address; raises ``tax_unavailable``."""
    svc = rt.pricing
    now = rt.clock.now()
    shipping_amount = 0
    if inp.shipping is not None and inp.address is not None:
        request = shipping_request(inp.currency, inp.lines, inp.address)
        try:
            shipping_amount = svc.shipping.calculate_shipping_cost(request, inp.shipping, now)
        except LookupError as exc:
            raise ShippingNoLongerOffered(inp.shipping.id) from exc
    discounts = NO_DISCOUNTS
    if inp.has_coupons:
        discounts = await discounts_for(
            rt,
            s,
            cart_id=inp.cart_id,
            lines=inp.lines,
            currency=inp.currency,
            shipping_amount=shipping_amount,
            user_id=inp.user_id,
            now=now,
        )
    tax = None
    if inp.address is not None:
        tax = await svc.tax.calculate_tax(
            rt,
            TaxRequest(
                currency=inp.currency,
                address=TaxAddress(
                    inp.address.country, inp.address.state, inp.address.zip_code, inp.address.city
                ),
                lines=taxable_lines(inp.lines, discounts),
                shipping_amount=shipping_amount - shipping_discount(shipping_amount, discounts),
            ),
        )
    return compute_totals(
        currency=inp.currency,
        lines=inp.lines,
        discounts=discounts,
        shipping_amount=shipping_amount,
        shipping_method_id=inp.shipping.id if inp.shipping else None,
        tax=tax,
    )
