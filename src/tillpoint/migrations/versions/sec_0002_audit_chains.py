"""audit log split into K hash chains: chain column, unique (chain, seq), head per chain

Revision ID: sec_0002
Revises: sec_0001
Create Date: 2026-11-26

Rows written before this revision become chain 0 with their stored hashes untouched
(the canonical form names ``chain`` only above 0, so they still verify: recomputing
them here would launder any tampering). The single head row (id 1) becomes chain 0's.
On SQLite the batch rebuild of ``audit_logs`` drops its triggers; they are created again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sec_0002"
down_revision: str | Sequence[str] | None = "sec_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
    BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
    BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END
    """,
]


def _sqlite_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_logs_no_delete")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_audit_logs_seq"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_audit_logs_chain_seq"), ["chain", "seq"])
    _sqlite_triggers()
    # The one chain so far is chain 0.
    op.execute("UPDATE audit_chain_head SET id = 0 WHERE id = 1")
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.alter_column("id", new_column_name="chain", existing_type=sa.Integer())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM audit_logs WHERE chain <> 0 LIMIT 1")).first():
        raise RuntimeError(
            "audit_logs has rows in chains above 0; one chain cannot hold them without"
            " recomputing their hashes, so this downgrade refuses"
        )
    with op.batch_alter_table("audit_chain_head", schema=None) as batch_op:
        batch_op.alter_column("chain", new_column_name="id", existing_type=sa.Integer())
    op.execute("DELETE FROM audit_chain_head WHERE id <> 0")
    op.execute("UPDATE audit_chain_head SET id = 1 WHERE id = 0")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_logs_chain_seq"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_audit_logs_seq"), ["seq"])
        batch_op.drop_column("chain")
    _sqlite_triggers()
