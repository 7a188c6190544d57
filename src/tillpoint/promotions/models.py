"""The seed's ``coupons`` table, and the usage rows that make usage limits exact.

Money columns hold minor units; a percentage ``value`` holds basis points
(1000 = 10 %). ``code`` is stored normalised (trimmed, upper case), so the unique
constraint makes codes unique case-insensitively.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, JSONType, UTCDateTime


class Coupon(Base):
    __tablename__ = "coupons"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    minimum_order_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    maximum_discount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_date: Mapped[datetime] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime] = mapped_column(UTCDateTime)
    usage_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    combinable: Mapped[bool] = mapped_column(Boolean, default=False)
    applicable_products: Mapped[list[str]] = mapped_column(JSONType, default=list)
    excluded_products: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Complex rules: buy_x_get_y keeps {buy_quantity, get_quantity, buy_products, get_products}.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    batch_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class CouponRedemption(Base):
    """One coupon claimed by one order; ``released_at`` once given back (cancel, failed pay)."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (UniqueConstraint("coupon_id", "order_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CouponCustomerUsage(Base):
    """How often one customer (``user:<id>`` or ``email:<address>``) has used one coupon.

    A counter row rather than a count of redemptions, so the per-customer limit is one
    atomic conditional upsert that holds under concurrency on both backends.
    """

    __tablename__ = "coupon_customer_usage"

    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), primary_key=True)
    customer_key: Mapped[str] = mapped_column(String(340), primary_key=True)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)


class CouponHold(Base):
    """One use of a coupon held by a checkout from CONFIRM_ORDER until its order exists.

    The hold already counts against ``usage_limit`` and the per-customer limit (it took
    the use with the same conditional updates a redemption does), so the shopper who
    is charged has their coupon. ``status``: ``held``, then ``redeemed`` (the order was
    created; a :class:`CouponRedemption` row carries on) or ``released`` (the use went
    back: the checkout expired, or its stock reservation lapsed).
    """

    __tablename__ = "coupon_holds"
    __table_args__ = (UniqueConstraint("coupon_id", "checkout_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), index=True)
    checkout_id: Mapped[str] = mapped_column(String(40), index=True)
    cart_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
