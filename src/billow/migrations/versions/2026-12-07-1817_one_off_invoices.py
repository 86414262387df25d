"""one_off_invoices

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:17:37.046827
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.add_column(sa.Column("add_on_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("description", sa.String(length=2048), nullable=True))
        batch_op.create_index(batch_op.f("ix_fees_add_on_id"), ["add_on_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_fees_add_on_id_add_ons"), "add_ons", ["add_on_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fees_add_on_id_add_ons"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_fees_add_on_id"))
        batch_op.drop_column("description")
        batch_op.drop_column("add_on_id")
