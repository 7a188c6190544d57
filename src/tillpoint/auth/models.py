"""Accounts and sessions.

``users`` (carts reference it, as in the seed); ``guest_sessions`` (the seed's
``GuestSession``); ``registered_sessions`` (the seed's ``RegisteredSession``: a guest
session plus its user); ``refresh_tokens`` (only the SHA-256 of each token; one session
is one rotation family); ``account_tokens`` (password-reset and e-mail verification
tokens, again only their SHA-256); ``saved_addresses`` (a user's address book).
A session's ``id`` is the SHA-256 of its cookie token, so a leaked table does not hand
out live sessions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.db import Base, JSONType, UTCDateTime

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=CUSTOMER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when the owner followed a verification link sent to ``email``.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class AccountToken(Base):
    """A single-use token mailed to a user: ``purpose`` is ``password_reset`` or
    ``verify_email``. Only the SHA-256 of the token is kept; ``email`` is the address it
    was sent to (a verification holds only while the account still has that address)."""

    __tablename__ = "account_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SavedAddress(Base):
    """One address in a user's address book (the checkout's ``Address`` shape)."""

    __tablename__ = "saved_addresses"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegisteredSession(Base):
    __tablename__ = "registered_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    checkout_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Sliding never extends a session past this instant.
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    session_id: Mapped[str] = mapped_column(
        ForeignKey("registered_sessions.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the token was exchanged; presenting it again is reuse (theft).
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GuestSession(Base):
    __tablename__ = "guest_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    checkout_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
