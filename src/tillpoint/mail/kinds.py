"""What each kind of email says: one typed, frozen record per kind (amounts in minor units).

The features build these from their own rows; :func:`tillpoint.mail.render.render_email`
turns one into a subject, a plain-text part and an HTML part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class EmailKind(StrEnum):
    """The emails the shop sends; each is a template family ``<kind>.{subject.txt,txt,html}``."""

    order_confirmation = "order_confirmation"
    order_shipped = "order_shipped"
    refund_issued = "refund_issued"
    back_in_stock = "back_in_stock"
    password_reset = "password_reset"
    email_verification = "email_verification"
    low_stock = "low_stock"
    owner_new_order = "owner_new_order"


@dataclass(frozen=True, slots=True)
class EmailLine:
    """One bought item: ``amount`` is ``unit_price * quantity`` (before discounts and tax)."""

    name: str
    quantity: int
    unit_price: int
    amount: int
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class EmailDiscount:
    """One discount line per coupon or promotion, so two coupons never read as one."""

    label: str
    amount: int


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """An address as the lines printed on an envelope."""

    lines: tuple[str, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PostalAddress | None:
        """From the checkout's address JSON (``first_name``, ``street1``, ``zip_code``…)."""
        if not data:
            return None
        name = " ".join(str(data.get(k) or "").strip() for k in ("first_name", "last_name"))
        place = " ".join(
            str(data.get(k) or "").strip() for k in ("zip_code", "city", "state") if data.get(k)
        )
        parts = (name, data.get("company"), data.get("street1"), data.get("street2"), place)
        lines = [str(p).strip() for p in (*parts, data.get("country")) if p and str(p).strip()]
        return cls(tuple(lines)) if lines else None


@dataclass(frozen=True, slots=True)
class OrderConfirmation:
    kind: ClassVar[EmailKind] = EmailKind.order_confirmation
    number: str
    currency: str
    lines: tuple[EmailLine, ...]
    discounts: tuple[EmailDiscount, ...]
    subtotal: int
    shipping: int
    tax: int
    total: int
    order_url: str  # carries the order's access token: a guest opens it without signing in
    tax_included: bool = False
    shipping_method: str | None = None
    shipping_address: PostalAddress | None = None
    billing_address: PostalAddress | None = None


@dataclass(frozen=True, slots=True)
class OrderShipped:
    kind: ClassVar[EmailKind] = EmailKind.order_shipped
    number: str
    carrier: str
    tracking_number: str
    order_url: str
    tracking_url: str | None = None
    lines: tuple[EmailLine, ...] = ()
    shipping_address: PostalAddress | None = None


@dataclass(frozen=True, slots=True)
class RefundIssued:
    kind: ClassVar[EmailKind] = EmailKind.refund_issued
    number: str
    currency: str
    amount: int  # this refund
    refunded_total: int  # all refunds of the order so far, this one included
    order_total: int
    order_url: str
    reason: str | None = None
    lines: tuple[EmailLine, ...] = ()  # the units this refund names (a refund by line)

    @property
    def full(self) -> bool:
        return self.refunded_total >= self.order_total


@dataclass(frozen=True, slots=True)
class BackInStock:
    kind: ClassVar[EmailKind] = EmailKind.back_in_stock
    product_name: str
    product_url: str


@dataclass(frozen=True, slots=True)
class PasswordReset:
    kind: ClassVar[EmailKind] = EmailKind.password_reset
    reset_url: str  # carries the single-use token
    expires_minutes: int


@dataclass(frozen=True, slots=True)
class EmailVerification:
    kind: ClassVar[EmailKind] = EmailKind.email_verification
    verify_url: str  # carries the single-use token
    expires_minutes: int


@dataclass(frozen=True, slots=True)
class LowStock:
    """To the shop owner: a SKU's available stock just fell to or below its threshold."""

    kind: ClassVar[EmailKind] = EmailKind.low_stock
    sku: str
    available: int
    threshold: int
    stock_url: str  # the product's page in the dashboard, where its stock is set


@dataclass(frozen=True, slots=True)
class OwnerNewOrder:
    """To the shop owner (``owner_email``): an order was just placed."""

    kind: ClassVar[EmailKind] = EmailKind.owner_new_order
    number: str
    currency: str
    lines: tuple[EmailLine, ...]
    total: int
    admin_url: str
    customer_email: str | None = None
    shipping_method: str | None = None
    shipping_address: PostalAddress | None = None
    held_for_review: bool = False


EmailData = (
    OrderConfirmation
    | OrderShipped
    | RefundIssued
    | BackInStock
    | PasswordReset
    | EmailVerification
    | LowStock
    | OwnerNewOrder
)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A finished email: what the outbox stores and the SMTP sender sends as multipart."""

    kind: EmailKind
    subject: str
    text: str
    html: str

    def payload(self) -> dict[str, str]:
        """The outbox payload's message fields (callers add their own references)."""
        return {"subject": self.subject, "text": self.text, "html": self.html}
