"""Tax transactions: sales, voids and refunds waiting to be recorded at AvaTax or TaxJar.

Revision ID: tax_0001
Revises: hook_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "tax_0001"
down_revision: str | Sequence[str] | None = "hook_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tax_transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_transactions")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_tax_transactions_dedupe_key")),
    )
    with op.batch_alter_table("tax_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tax_transactions_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            "ix_tax_transactions_status_available", ["status", "available_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tax_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_tax_transactions_status_available")
        batch_op.drop_index(batch_op.f("ix_tax_transactions_order_id"))
    op.drop_table("tax_transactions")
