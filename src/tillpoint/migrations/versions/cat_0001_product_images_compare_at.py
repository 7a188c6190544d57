"""products.images and compare-at prices for products and variants

Revision ID: cat_0001
Revises: auth_0002
Create Date: 2026-12-07

Issue 21: a product has a list of image URLs (``images``; the older ``image_url`` stays as
the first of them, and rows that only have ``image_url`` still show it) and an optional
compare-at ("was") price, as each variant does. All columns are nullable: no table rewrite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "cat_0001"
down_revision: str | Sequence[str] | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("images", _JSON, nullable=True))
        batch_op.add_column(sa.Column("compare_at_price", sa.Integer(), nullable=True))
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compare_at_price", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_column("compare_at_price")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("compare_at_price")
        batch_op.drop_column("images")
