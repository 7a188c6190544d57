"""``orders``, ``order_lines``, ``payments``, ``refunds``, ``fulfillments`` (with their
``fulfillment_lines``) and ``subscriptions``
(``payment_customers`` is the payments feature's, ``outbox`` the outbox's). Money columns
are integers in minor units next to a currency.

An order is unique per checkout and per PaymentIntent (unique constraints back the
one idempotent finalize path); refunds are unique per idempotency key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tillpoint.db import Base, JSONType, UTCDateTime


class Order(Base):
    __tablename__ = "orders"
    # The admin list's filters, each newest first (``created_at, id`` is its order).
    __table_args__ = (
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_fulfillment_status_created_at", "fulfillment_status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    checkout_id: Mapped[str] = mapped_column(String(40), unique=True)
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    cart_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # paid | held_for_review | partially_refunded | refunded
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    discount_total: Mapped[int] = mapped_column(Integer)
    shipping_total: Mapped[int] = mapped_column(Integer)
    tax_total: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    refunded_total: Mapped[int] = mapped_column(Integer, default=0)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_method: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_refundable: Mapped[int] = mapped_column(Integer, default=0)
    shipping_refunded: Mapped[int] = mapped_column(Integer, default=0)
    risk_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # unfulfilled | partially_fulfilled | fulfilled | cancelled
    fulfillment_status: Mapped[str] = mapped_column(
        String(24), default="unfulfilled", server_default="unfulfilled"
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    access_token_hash: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.position", lazy="selectin", cascade="all, delete-orphan"
    )
    payments: Mapped[list[OrderPayment]] = relationship(
        order_by="OrderPayment.created_at", lazy="selectin", cascade="all, delete-orphan"
    )
    refunds: Mapped[list[Refund]] = relationship(
        order_by="Refund.created_at", lazy="selectin", cascade="all, delete-orphan"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        order_by="Fulfillment.created_at", lazy="selectin", cascade="all, delete-orphan"
    )


# The admin search: an e-mail prefix, case-insensitive.
Index("ix_orders_email_lower", func.lower(Order.email))


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    cart_item_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    product_id: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    sku: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # unit_price * quantity
    discount: Mapped[int] = mapped_column(Integer)  # this line's share of every discount
    tax: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)  # what the customer paid for the line
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    restocked_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # Units refunded by line (``lines`` of a refund), units shipped, and the restocked
    # units that had been shipped (returns): unshipped units still to ship are
    # ``quantity - shipped - (restocked - returned)``.
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recurring: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class OrderPayment(Base):
    """The captured payment behind an order (the seed's ``payments``)."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    gateway: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(16))
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    risk_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    card_brand: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    restock: Mapped[bool] = mapped_column(Boolean, default=False)
    allocation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # What this refund put back on the shelf: [{"line_id", "sku", "quantity"}]
    restocked: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fulfillment(Base):
    """One shipment of some of an order's units, with its carrier and tracking number."""

    __tablename__ = "fulfillments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    lines: Mapped[list[FulfillmentLine]] = relationship(
        order_by="FulfillmentLine.position", lazy="selectin", cascade="all, delete-orphan"
    )


class FulfillmentLine(Base):
    __tablename__ = "fulfillment_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fulfillment_id: Mapped[str] = mapped_column(
        ForeignKey("fulfillments.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[str] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)


class SubscriptionRecord(Base):
    """Our copy of a gateway subscription, kept current by its webhooks."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    gateway_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    gateway_customer_id: Mapped[str] = mapped_column(String(255), index=True)
    order_id: Mapped[str | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), nullable=True, index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(32))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latest_invoice_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paid_invoices: Mapped[int] = mapped_column(Integer, default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
