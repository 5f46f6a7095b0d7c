"""identity: organisations, users, memberships, assistant permissions, API keys, browser
sessions and Clerk webhook deliveries

Revision ID: 0004
Revises: 0003 (0003_alerts is written on another branch; re-chained when both land)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.org_id"], ondelete="CASCADE",
                                name=op.f("fk_memberships_org_id_organizations")),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], ondelete="CASCADE",
                                name=op.f("fk_memberships_user_id_users")),
        sa.PrimaryKeyConstraint("org_id", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index("ix_memberships_user", "memberships", ["user_id"])
    op.create_table(
        "assistant_permissions",
        sa.Column("assistant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("permission", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["assistant_id"], ["assistants.assistant_id"], ondelete="CASCADE",
                                name=op.f("fk_assistant_permissions_assistant_id_assistants")),
        sa.PrimaryKeyConstraint("assistant_id", "user_id", "permission",
                                name=op.f("pk_assistant_permissions")),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        _ts("created_at"),
        _ts("expires_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_index("uq_api_keys_digest", "api_keys", ["digest"], unique=True)
    op.create_index("ix_api_keys_org", "api_keys", ["org_id", "created_at"])
    op.create_table(
        "browser_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("credential", sa.String(length=64), nullable=True),
        sa.Column("principal", JSONType, nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_browser_sessions")),
    )
    op.create_index("ix_browser_sessions_subject", "browser_sessions", ["org_id", "subject"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("svix_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        _ts("received_at"),
        sa.PrimaryKeyConstraint("svix_id", name=op.f("pk_webhook_deliveries")),
    )


def downgrade() -> None:
    for table in ("webhook_deliveries", "browser_sessions", "api_keys", "assistant_permissions",
                  "memberships", "users", "organizations"):
        op.drop_table(table)
