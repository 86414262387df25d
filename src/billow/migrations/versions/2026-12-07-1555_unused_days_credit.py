"""subscriptions.unused_days_credit(_at): the credit of unused days at termination is pending work of the
billing run; credit_notes unique per (subscription, reason)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:55:50.016026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.kit.db_types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            "uq_credit_notes_subscription_id_reason",
            ["subscription_id", "reason"],
            unique=True,
            sqlite_where=sa.text("subscription_id IS NOT NULL"),
            postgresql_where=sa.text("subscription_id IS NOT NULL"),
        )

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unused_days_credit", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("unused_days_credit_at", billow.kit.db_types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_subscriptions_unused_days_credit",
            ["organization_id"],
            unique=False,
            sqlite_where=sa.text("unused_days_credit IS NOT NULL"),
            postgresql_where=sa.text("unused_days_credit IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_subscriptions_unused_days_credit",
            sqlite_where=sa.text("unused_days_credit IS NOT NULL"),
            postgresql_where=sa.text("unused_days_credit IS NOT NULL"),
        )
        batch_op.drop_column("unused_days_credit_at")
        batch_op.drop_column("unused_days_credit")

    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_credit_notes_subscription_id_reason",
            sqlite_where=sa.text("subscription_id IS NOT NULL"),
            postgresql_where=sa.text("subscription_id IS NOT NULL"),
        )
