"""org budgets: usage per organisation and month, and per-organisation limits

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_usage",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "period", name=op.f("pk_org_usage")),
    )
    op.create_table(
        "org_budgets",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("token_budget", sa.BigInteger(), nullable=True),
        sa.Column("cost_budget", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_budgets")),
    )


def downgrade() -> None:
    op.drop_table("org_budgets")
    op.drop_table("org_usage")
