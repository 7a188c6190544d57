"""Inventory tables: stock per SKU, reservations and their lines, the waitlist and its
notification outbox, and the webhook deliveries already applied.

A stock row belongs to a product (``variant_id`` NULL) or to one variant; ``sku`` is the
catalog SKU of that product or variant and is how external systems name it. A product
or variant without a row is *untracked*: always available.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tillpoint.db import Base, JSONType, UTCDateTime


class InventoryItem(Base):
    __tablename__ = "inventory"
    __table_args__ = (CheckConstraint("reserved >= 0", name="reserved_not_negative"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[str | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE"), nullable=True
    )
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    # on_hand goes below zero only when backordered units were sold (units owed).
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    backorder_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    backorder_estimate: Mapped[str | None] = mapped_column(String(80), nullable=True)
    restock_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)


class InventoryReservation(Base):
    """The seed's InventoryReservation: id, items, expiresAt, status."""

    __tablename__ = "inventory_reservations"

    # Chosen by the caller (a checkout, a cart hold) so reserving again is idempotent.
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # active|expired|fulfilled|cancelled
    reference: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    lines: Mapped[list[InventoryReservationLine]] = relationship(
        order_by="InventoryReservationLine.position",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class InventoryReservationLine(Base):
    __tablename__ = "inventory_reservation_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(
        ForeignKey("inventory_reservations.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # NULL for an untracked product: nothing was taken from stock for this line.
    inventory_id: Mapped[str | None] = mapped_column(
        ForeignKey("inventory.id", ondelete="SET NULL"), nullable=True, index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)


class WaitlistEntry(Base):
    """A customer waiting for a SKU to come back; notified exactly once."""

    __tablename__ = "inventory_waitlist"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    inventory_id: Mapped[str] = mapped_column(
        ForeignKey("inventory.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class StockNotification(Base):
    """Outbox of "back in stock" messages; one per waitlist entry, ever (unique)."""

    __tablename__ = "inventory_notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    waitlist_entry_id: Mapped[str] = mapped_column(
        ForeignKey("inventory_waitlist.id", ondelete="CASCADE"), unique=True
    )
    email: Mapped[str] = mapped_column(String(320))
    product_id: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """A stock webhook delivery already applied; a replay of its id is ignored."""

    __tablename__ = "inventory_webhook_deliveries"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
