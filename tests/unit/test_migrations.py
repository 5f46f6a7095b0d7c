"""The Alembic migrations and the SQLAlchemy models describe the same schema, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect

from nexod.db.migrate import upgrade
from nexod.db.models import Base
from nexod.settings import Settings
from tests.conftest import pg_admin_url
from tests.servers import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "postgres":
        with postgres_database(pg_admin_url()) as url:
            yield Settings(data_dir=tmp_path, database_url=url)
    else:
        yield Settings(data_dir=tmp_path)


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrations_match_models(settings: Settings) -> None:
    from nexod.db.engine import create_engine as create_async

    engine = create_async(settings)
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent
    finally:
        await engine.dispose()
    sync_url = settings.sqlalchemy_url.replace("+aiosqlite", "").replace("+psycopg", "+psycopg")
    sync = create_engine(sync_url)
    try:
        with sync.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            assert {"assistants", "assistant_versions", "threads", "agent_sessions", "agent_logs",
                    "store_items", "crons", "kb_documents", "vector_metadata"} <= tables
            assert _diff(conn) == [], "models and migrations drifted: write a migration"
    finally:
        sync.dispose()


def test_drift_is_detected(tmp_path: Path) -> None:
    """The check above can fail: a column missing from the database shows up as a diff."""
    sync = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with sync.begin() as conn:
        Base.metadata.create_all(conn)
        conn.exec_driver_sql("ALTER TABLE threads DROP COLUMN state_updated_at")
        diff = _diff(conn)
    sync.dispose()
    assert any("state_updated_at" in repr(d) for d in diff)
