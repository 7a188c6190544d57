"""One history: join the six feature branches into a single head.

The first features each branched off ``0002`` (accounts, checkouts, inventory, payments,
promotions, the audit chain). Every later revision follows this one in a line, so
``alembic heads`` names one revision and ``tillpoint migrate`` has one target. Nothing
changes in the schema: each branch was verified to upgrade on its own from ``0002``
(``tests/integration/test_migrations.py``), so no branch needs another.

Revision ID: 0003
Revises: auth_0001, co_0001, inv_0001, pay_0002, promo_0002, sec_0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = (
    "auth_0001",
    "co_0001",
    "inv_0001",
    "pay_0002",
    "promo_0002",
    "sec_0002",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
