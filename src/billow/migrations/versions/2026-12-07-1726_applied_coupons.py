"""applied_coupons

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 17:26:25.898280
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.kit.db_types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_coupons",
        sa.Column("coupon_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_cents_remaining", sa.BigInteger(), nullable=True),
        sa.Column("amount_currency", sa.String(length=3), nullable=True),
        sa.Column("percentage_rate", billow.kit.db_types.ExactDecimal(precision=38, scale=18), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("frequency_duration", sa.Integer(), nullable=True),
        sa.Column("frequency_duration_remaining", sa.Integer(), nullable=True),
        sa.Column("terminated_at", billow.kit.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", billow.kit.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", billow.kit.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_applied_coupons_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_applied_coupons_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_applied_coupons_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_coupons")),
    )
    with op.batch_alter_table("applied_coupons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applied_coupons_coupon_id"), ["coupon_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applied_coupons_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_applied_coupons_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("applied_coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applied_coupons_organization_id"))
        batch_op.drop_index(batch_op.f("ix_applied_coupons_customer_id"))
        batch_op.drop_index(batch_op.f("ix_applied_coupons_coupon_id"))

    op.drop_table("applied_coupons")
