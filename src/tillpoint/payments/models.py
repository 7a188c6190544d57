"""Payment-layer tables: verified webhook events (each processed once), payment attempts,
and the gateway customers of registered users.

``payment_attempts`` records every try at paying (one per created PaymentIntent): the
velocity checks count it by checkout, session, email and card fingerprint, and
webhooks keep its status current. Orders keep their own ``payments`` rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, UTCDateTime


class WebhookEventRecord(Base):
    """One verified webhook event id; a second delivery of the same id is a no-op."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    gateway: Mapped[str] = mapped_column(String(16))
    event_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PaymentAttempt(Base):
    __tablename__ = "payment_attempts"
    __table_args__ = (
        Index("ix_payment_attempts_checkout_created", "checkout_id", "created_at"),
        Index("ix_payment_attempts_session_created", "session_id", "created_at"),
        Index("ix_payment_attempts_email_created", "email", "created_at"),
        Index("ix_payment_attempts_card_created", "card_fingerprint", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkout_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    card_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gateway: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(16), default="primary")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    decline_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decline_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    risk_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class PaymentCustomer(Base):
    """The gateway customer a registered user's saved cards and subscriptions hang on."""

    __tablename__ = "payment_customers"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    gateway: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
