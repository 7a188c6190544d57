"""Orders for staff: fulfilments (shipments with tracking), what each line shipped,
refunded by line and got back, cancellation, and indexes for the admin list's filters.

Revision ID: ord_0001
Revises: cat_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ord_0001"
down_revision: str | Sequence[str] | None = "cat_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("refunded_quantity", "shipped_quantity", "returned_quantity")


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fulfillment_status",
                sa.String(length=24),
                server_default="unfulfilled",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_orders_status_created_at", ["status", "created_at"])
        batch_op.create_index(
            "ix_orders_fulfillment_status_created_at", ["fulfillment_status", "created_at"]
        )
    op.create_index("ix_orders_email_lower", "orders", [sa.text("lower(email)")])
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        for name in _COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "restocked",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    _create_fulfillments()


def _create_fulfillments() -> None:
    op.create_table(
        "fulfillments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("tracking_number", sa.String(length=100), nullable=False),
        sa.Column("tracking_url", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fulfillments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillments")),
    )  # fmt: skip
    op.create_index(op.f("ix_fulfillments_order_id"), "fulfillments", ["order_id"])
    op.create_table(
        "fulfillment_lines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("fulfillment_id", sa.String(length=40), nullable=False),
        sa.Column("order_line_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fulfillment_id"], ["fulfillments.id"],
            name=op.f("fk_fulfillment_lines_fulfillment_id_fulfillments"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"],
            name=op.f("fk_fulfillment_lines_order_line_id_order_lines"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_lines")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_fulfillment_lines_fulfillment_id"), "fulfillment_lines", ["fulfillment_id"]
    )
    op.create_index(
        op.f("ix_fulfillment_lines_order_line_id"), "fulfillment_lines", ["order_line_id"]
    )


def downgrade() -> None:
    op.drop_table("fulfillment_lines")
    op.drop_table("fulfillments")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("restocked")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        for name in _COUNTS:
            batch_op.drop_column(name)
    op.drop_index("ix_orders_email_lower", table_name="orders")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_fulfillment_status_created_at")
        batch_op.drop_index("ix_orders_status_created_at")
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("fulfillment_status")
