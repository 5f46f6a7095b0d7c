"""SQLAlchemy models for every table Nexod owns.

Tenant-owned tables carry ``org_id``; every query in the code filters on it. Checkpoints are
not here: they live in the LangGraph checkpointer's own tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING)


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False)


class Assistant(Base):
    """An assistant: a graph plus configuration. Its current version is mirrored here."""

    __tablename__ = "assistants"
    assistant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    graph_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()

    __table_args__ = (Index("ix_assistants_org_graph", "org_id", "graph_id"),)


class AssistantVersion(Base):
    """One immutable version of an assistant; PATCH adds one."""

    __tablename__ = "assistant_versions"
    assistant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("assistants.assistant_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    graph_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    created_at: Mapped[datetime] = _ts()


class Thread(Base):
    """A conversation / workflow instance; its state lives in the checkpointer."""

    __tablename__ = "threads"
    thread_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    values: Mapped[Any] = mapped_column(JSONType, nullable=True)
    interrupts: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    state_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_threads_org_created", "org_id", "created_at"),)


class AgentSession(Base):
    """A run (the seed's ``agent_sessions``): a queued or executing graph invocation."""

    __tablename__ = "agent_sessions"
    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    thread_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False
    )
    assistant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    multitask_strategy: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    available_at: Mapped[datetime] = _ts()
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    cancel_action: Mapped[str | None] = mapped_column(String(16))
    temporary: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))

    __table_args__ = (
        Index("ix_agent_sessions_queue", "status", "available_at"),
        Index("ix_agent_sessions_thread", "thread_id", "created_at"),
        Index("ix_agent_sessions_org", "org_id", "created_at"),
        # The database itself guarantees one executing run per thread.
        Index(
            "uq_agent_sessions_one_running",
            "thread_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class AgentLog(Base):
    """One event or log line of a run, in order (the seed's ``agent_logs``; the replay log)."""

    __tablename__ = "agent_logs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    run_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agent_sessions.run_id", ondelete="CASCADE"), nullable=False
    )
    thread_id: Mapped[str] = mapped_column(String(36), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    event: Mapped[str] = mapped_column(String(255), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = _ts()

    __table_args__ = (
        Index("uq_agent_logs_run_seq", "run_id", "seq", unique=True),
        Index("ix_agent_logs_thread", "thread_id", "id"),
    )


class StoreItem(Base):
    """A long-term memory item of the LangGraph store API."""

    __tablename__ = "store_items"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ttl_minutes: Mapped[float | None] = mapped_column()


class Cron(Base):
    """A scheduled run."""

    __tablename__ = "crons"
    cron_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    assistant_id: Mapped[str] = mapped_column(String(36), nullable=False)
    thread_id: Mapped[str | None] = mapped_column(String(36))
    schedule: Mapped[str] = mapped_column(String(255), nullable=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    on_run_completed: Mapped[str] = mapped_column(String(16), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_run_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()

    __table_args__ = (Index("ix_crons_org", "org_id", "created_at"),)


class WorkerBeat(Base):
    """A worker process's last heartbeat: what readiness checks and `nexod status` report.

    Not tenant data: one row per live worker process, deleted when it stops cleanly and
    swept when its heartbeat is long gone.
    """

    __tablename__ = "workers"
    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    in_flight: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = _ts()
    heartbeat_at: Mapped[datetime] = _ts()


class Alert(Base):
    """An alert raised by the alert engine: firing until its condition clears, then resolved.

    At most one firing alert per ``key`` (a partial unique index): that is how processes
    agree who notifies. ``org_id`` is set when the alert is about one tenant's run.
    """

    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    rule: Mapped[str] = mapped_column(String(64), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    link: Mapped[str | None] = mapped_column(Text)
    org_id: Mapped[str | None] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = _ts()
    last_seen_at: Mapped[datetime] = _ts()
    notified_at: Mapped[datetime] = _ts()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_alerts_started", "started_at"),
        Index(
            "uq_alerts_one_firing",
            "key",
            unique=True,
            sqlite_where=text("status = 'firing'"),
            postgresql_where=text("status = 'firing'"),
        ),
    )


# --- identity (migration 0004_identity) ----------------------------------------------------------


class Organization(Base):
    """A tenant. Mirrors a Clerk organisation, or is made by `nexod keys create --org`.

    Deleting one (Clerk's ``organization.deleted``) leaves a tombstone: ``deleted_at`` bars
    every caller of the organisation at once, its data is purged, then ``purged_at`` is set.
    """

    __tablename__ = "organizations"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    slug: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A person, mirrored from Clerk by webhooks (never a password: Clerk owns sign-in)."""

    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class Membership(Base):
    """A user's role in an organisation: ``admin``, ``member`` or ``viewer``."""

    __tablename__ = "memberships"
    org_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.org_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()

    __table_args__ = (Index("ix_memberships_user", "user_id"),)


class AssistantPermission(Base):
    """A grant on one assistant: ``run``, ``approve`` (an interrupt) or ``administer``.

    An assistant with no grants for a permission follows the member's role; once it has any,
    only the users granted it (and organisation admins) hold it.
    """

    __tablename__ = "assistant_permissions"
    assistant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("assistants.assistant_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    permission: Mapped[str] = mapped_column(String(16), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _ts()


class ApiKey(Base):
    """An API key. Only a SHA-256 digest of the secret is stored; the key is shown once."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_api_keys_digest", "digest", unique=True),
        Index("ix_api_keys_org", "org_id", "created_at"),
    )


class BrowserSession(Base):
    """A dashboard session: the cookie holds a random id, this row its SHA-256 digest."""

    __tablename__ = "browser_sessions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(128), nullable=False)
    credential: Mapped[str | None] = mapped_column(String(64))
    principal: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_browser_sessions_subject", "org_id", "subject"),
        Index("ix_browser_sessions_expires", "expires_at"),
    )


class WebhookDelivery(Base):
    """A Clerk (Svix) delivery already applied: the ``svix-id`` makes redelivery a no-op."""

    __tablename__ = "webhook_deliveries"
    svix_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(128), nullable=False)
    received_at: Mapped[datetime] = _ts()


# --- knowledge base (migration 0005_knowledge) ------------------------------------------------


class KbDocument(Base):
    """A document in the knowledge base: one per (org, namespace, source); re-ingest bumps version."""

    __tablename__ = "kb_documents"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    namespace: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(1024), nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigId, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding_model: Mapped[str] = mapped_column(String(200), nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()

    __table_args__ = (
        Index("uq_kb_documents_source", "org_id", "namespace", "source", unique=True),
        Index("ix_kb_documents_org_ns", "org_id", "namespace", "created_at"),
    )


class VectorMetadata(Base):
    """One stored chunk (the seed's ``vector_metadata``): the source of truth behind every vector store.

    ``chunk_id`` is ``document_id#version#chunk``; the vector itself is kept too (``embedding``,
    float32 bytes), so a vector store can be rebuilt without embedding again.
    """

    __tablename__ = "vector_metadata"
    # An integer key: SQLite's full-text index refers to rows by it (a VACUUM keeps it stable).
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chunk_id: Mapped[str] = mapped_column(String(120), nullable=False)
    org_id: Mapped[str] = mapped_column(String(64), nullable=False)
    namespace: Mapped[str] = mapped_column(String(200), nullable=False)
    document_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("kb_documents.document_id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    char_start: Mapped[int] = mapped_column(Integer, nullable=False)
    char_end: Mapped[int] = mapped_column(Integer, nullable=False)
    section: Mapped[str | None] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    embedding_model: Mapped[str] = mapped_column(String(200), nullable=False)
    embedding_dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = _ts()

    __table_args__ = (
        Index("uq_vector_metadata_chunk", "chunk_id", unique=True),
        Index("ix_vector_metadata_org_ns", "org_id", "namespace"),
        Index("ix_vector_metadata_document", "document_id", "version"),
    )


# --- organisation budgets (migration 0007_org_budgets) ---------------------------------------


class OrgUsage(Base):
    """Tokens and cost an organisation's model calls used in one period (a UTC month)."""

    __tablename__ = "org_usage"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = _ts()


class OrgBudget(Base):
    """An organisation's own limits per period (unset: NEXOD_ORG_TOKEN_BUDGET / _COST_BUDGET)."""

    __tablename__ = "org_budgets"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_budget: Mapped[int | None] = mapped_column(BigInteger)
    cost_budget: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = _ts()
