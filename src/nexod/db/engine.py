"""The async SQLAlchemy engine for SQLite (embedded) or PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from nexod.settings import Settings


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is safe with WAL and much faster;
    # busy_timeout makes a second writer wait instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the engine named by the settings; SQLite files go under ``settings.data_dir``."""
    if settings.is_postgres:
        engine = create_async_engine(
            settings.sqlalchemy_url,
            pool_size=10,
            max_overflow=20,
            # No pre-ping (a round trip per checkout); recycle instead, so connections that a
            # proxy or the server dropped while idle are replaced.
            pool_recycle=300,
            # No server-side prepared statements, so transaction-mode poolers (PgBouncer,
            # Supabase) work.
            connect_args={"prepare_threshold": None},
        )
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # One connection, shared in turn: SQLite has a single writer anyway, and writers on
        # separate connections wait for each other in SQLite's busy handler (sleeps of up to
        # tens of ms), which measured 1.6x slower per run. Code must never open a second
        # session while holding one.
        engine = create_async_engine(
            settings.sqlalchemy_url, pool_size=1, max_overflow=0, pool_timeout=60,
            # Sessions and connections roll back on close already; skip the extra rollback
            # round trip on every check-in.
            pool_reset_on_return=None,
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def dialect_of(session: AsyncSession) -> str:
    """The SQL dialect name ("sqlite" or "postgresql") behind a session."""
    return session.get_bind().dialect.name


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """A session factory that keeps objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The engine for single reads on hot paths: autocommit on PostgreSQL.

    A plain ``connect()`` there costs three round trips (BEGIN, the query, ROLLBACK on
    return); in autocommit it is one. SQLite keeps its one pooled connection as it is.
    """
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")
