"""The ``checkout_sessions`` table (one purchase a shop's server asked for) and
``checkout_session_carts`` (the carts browsers opened it in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, JSONType, UTCDateTime


class CheckoutSession(Base):
    __tablename__ = "checkout_sessions"
    __table_args__ = (Index("ix_checkout_sessions_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # open | complete | expired
    api_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Unique: a retried create with the same key finds the first session.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    success_url: Mapped[str] = mapped_column(String(2000))
    cancel_url: Mapped[str] = mapped_column(String(2000))
    customer_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    client_reference_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSONType, default=dict)
    allow_coupons: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    # [{product_id, variant_id, sku, name, quantity, unit_amount, min, max, price_data}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    amount_subtotal: Mapped[int] = mapped_column(Integer)
    amount_discount: Mapped[int] = mapped_column(Integer, default=0)
    amount_shipping: Mapped[int] = mapped_column(Integer, default=0)
    amount_tax: Mapped[int] = mapped_column(Integer, default=0)
    amount_total: Mapped[int] = mapped_column(Integer)
    # Unique: one session, at most one order (two carts paying at once cannot both win).
    order_id: Mapped[str | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    order_number: Mapped[str | None] = mapped_column(String(40), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CheckoutSessionCart(Base):
    """A cart a browser opened the session in (each browser gets its own guest session)."""

    __tablename__ = "checkout_session_carts"

    cart_id: Mapped[str] = mapped_column(
        ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True
    )
    checkout_session_id: Mapped[str] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="CASCADE"), index=True
    )
    guest_session_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
