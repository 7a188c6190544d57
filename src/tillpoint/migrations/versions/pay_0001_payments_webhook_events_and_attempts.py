"""payments webhook events and attempts

Revision ID: pay_0001
Revises: 0002
Create Date: 2026-11-26 14:47:51.097657
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "pay_0001"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("decline_code", sa.String(length=64), nullable=True),
        sa.Column("decline_message", sa.String(length=500), nullable=True),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint(
            "payment_intent_id", name=op.f("uq_payment_attempts_payment_intent_id")
        ),
    )
    with op.batch_alter_table("payment_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_attempts_card_created", ["card_fingerprint", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_payment_attempts_checkout_created", ["checkout_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_payment_attempts_email_created", ["email", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_payment_attempts_session_created", ["session_id", "created_at"], unique=False
        )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("event_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_object_id"), ["object_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_events_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_events_received_at"))
        batch_op.drop_index(batch_op.f("ix_webhook_events_object_id"))

    op.drop_table("webhook_events")
    with op.batch_alter_table("payment_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_attempts_session_created")
        batch_op.drop_index("ix_payment_attempts_email_created")
        batch_op.drop_index("ix_payment_attempts_checkout_created")
        batch_op.drop_index("ix_payment_attempts_card_created")

    op.drop_table("payment_attempts")
