"""api keys and checkout sessions

Revision ID: api_0001
Revises: hook_0001
Create Date: 2026-12-07

Issue 22: the API keys a shop's server uses on ``/api/v1`` (SHA-256 of the secret only),
the checkout sessions it makes (one order at most: ``order_id`` is unique; a retried
create finds its session by the unique ``idempotency_key``) and the carts browsers
opened each session in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "api_0001"
down_revision: str | Sequence[str] | None = "hook_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("scopes", _JSON, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("last_used_at", _AT, nullable=True),
        sa.Column("revoked_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("success_url", sa.String(length=2000), nullable=False),
        sa.Column("cancel_url", sa.String(length=2000), nullable=False),
        sa.Column("customer_email", sa.String(length=254), nullable=True),
        sa.Column("client_reference_id", sa.String(length=200), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("allow_coupons", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", _JSON, nullable=False),
        sa.Column("amount_subtotal", sa.Integer(), nullable=False),
        sa.Column("amount_discount", sa.Integer(), nullable=False),
        sa.Column("amount_shipping", sa.Integer(), nullable=False),
        sa.Column("amount_tax", sa.Integer(), nullable=False),
        sa.Column("amount_total", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("order_number", sa.String(length=40), nullable=True),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("completed_at", _AT, nullable=True),
        sa.Column("expired_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_checkout_sessions_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_sessions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_checkout_sessions_idempotency_key")),
        sa.UniqueConstraint("order_id", name=op.f("uq_checkout_sessions_order_id")),
    )
    op.create_index(
        "ix_checkout_sessions_status_expires_at", "checkout_sessions", ["status", "expires_at"]
    )
    op.create_table(
        "checkout_session_carts",
        sa.Column("cart_id", sa.String(length=40), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=40), nullable=False),
        sa.Column("guest_session_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_checkout_session_carts_cart_id_carts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checkout_session_id"],
            ["checkout_sessions.id"],
            name=op.f("fk_checkout_session_carts_checkout_session_id_checkout_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cart_id", name=op.f("pk_checkout_session_carts")),
    )
    op.create_index(
        op.f("ix_checkout_session_carts_checkout_session_id"),
        "checkout_session_carts",
        ["checkout_session_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_checkout_session_carts_checkout_session_id"), table_name="checkout_session_carts"
    )
    op.drop_table("checkout_session_carts")
    op.drop_index("ix_checkout_sessions_status_expires_at", table_name="checkout_sessions")
    op.drop_table("checkout_sessions")
    op.drop_table("api_keys")
