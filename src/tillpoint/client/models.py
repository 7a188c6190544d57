"""What the client sends and receives, as pydantic models. Money is an integer in the
currency's minor unit (cents for USD); the models refuse floats for it. Answers ignore
fields they do not know, so a newer server does not break an older client."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# --- what a shop sends --------------------------------------------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdjustableQuantity(_Params):
    """Lets the shopper change this line's quantity within ``minimum``..``maximum``."""

    enabled: bool = True
    minimum: StrictInt | None = None
    maximum: StrictInt | None = None


class SkuLineItem(_Params):
    """A product of tillpoint's own catalog, by SKU (stock-checked and reserved)."""

    sku: str
    quantity: StrictInt = 1
    adjustable_quantity: AdjustableQuantity | None = None


class PriceData(_Params):
    """A product of the shop's own catalog: its name and unit price."""

    currency: str
    unit_amount: StrictInt
    name: str
    tax_category: str | None = None


class PriceDataLineItem(_Params):
    """A line priced by the shop (``price_data``) rather than by tillpoint's catalog."""

    price_data: PriceData
    quantity: StrictInt = 1
    adjustable_quantity: AdjustableQuantity | None = None


LineItem = SkuLineItem | PriceDataLineItem


class CheckoutSessionParams(_Params):
    """The body of ``POST /api/v1/checkout-sessions`` (None fields are left out)."""

    line_items: list[LineItem]
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] | None = None
    allow_coupons: bool | None = None
    expires_in: StrictInt | None = None


# --- what tillpoint answers ---------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CheckoutSessionLineItem(_Answer):
    sku: str | None
    name: str
    quantity: int
    unit_amount: int
    amount_total: int


class CheckoutSession(_Answer):
    """A checkout session. ``url`` (where to send the shopper) is None once it is not open;
    the amounts are the order's once ``status`` is ``complete``, else the line items'."""

    id: str
    object: Literal["checkout_session"] = "checkout_session"
    status: Literal["open", "complete", "expired"]
    url: str | None
    expires_at: datetime
    created_at: datetime
    success_url: str
    cancel_url: str
    client_reference_id: str | None = None
    customer_email: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    allow_coupons: bool = False
    currency: str
    amount_subtotal: int
    amount_discount: int = 0
    amount_shipping: int = 0
    amount_tax: int = 0
    amount_total: int
    line_items: list[CheckoutSessionLineItem] = Field(default_factory=list)
    order_id: str | None = None
    order_number: str | None = None


class OrderTotals(_Answer):
    subtotal: int
    discount: int
    shipping: int
    tax: int
    total: int
    refunded: int = 0


class OrderLine(_Answer):
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    name: str
    quantity: int
    unit_price: int
    total: int


class Order(_Answer):
    """An order as webhook events carry it (docs/webhooks.md)."""

    id: str
    number: str
    status: str
    currency: str
    email: str | None = None
    totals: OrderTotals
    lines: list[OrderLine] = Field(default_factory=list)
    created_at: datetime
