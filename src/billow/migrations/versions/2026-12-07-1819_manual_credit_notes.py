"""manual_credit_notes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:17:44.256764
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.kit.db_types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "precise_coupons_adjustment_amount_cents",
                billow.kit.db_types.ExactDecimal(precision=38, scale=18),
                nullable=False,
                server_default="0",
            )
        )
        batch_op.add_column(sa.Column("metadata", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_column("metadata")
        batch_op.drop_column("precise_coupons_adjustment_amount_cents")
