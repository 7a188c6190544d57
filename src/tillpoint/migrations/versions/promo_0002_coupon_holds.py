"""Coupon holds: a checkout holds its coupon's use from CONFIRM_ORDER until its order exists.

Revision ID: promo_0002
Revises: promo_0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "promo_0002"
down_revision: str | Sequence[str] | None = "promo_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_holds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("coupon_id", sa.String(length=40), nullable=False),
        sa.Column("checkout_id", sa.String(length=40), nullable=False),
        sa.Column("cart_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_holds_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_holds")),
        sa.UniqueConstraint("coupon_id", "checkout_id", name=op.f("uq_coupon_holds_coupon_id")),
    )
    with op.batch_alter_table("coupon_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupon_holds_coupon_id"), ["coupon_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_coupon_holds_checkout_id"), ["checkout_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_coupon_holds_cart_id"), ["cart_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupon_holds_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("coupon_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_holds_status"))
        batch_op.drop_index(batch_op.f("ix_coupon_holds_cart_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_holds_checkout_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_holds_coupon_id"))
    op.drop_table("coupon_holds")
