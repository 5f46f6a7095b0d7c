"""Keyword search over ``vector_metadata.text``: SQLite FTS5 (BM25) or PostgreSQL full-text.

Both indexes follow the table inside the same transaction (FTS5 through triggers, PostgreSQL
through a stored, generated ``tsvector`` column and its GIN index), so a chunk is keyword-searchable exactly when its row exists.
They are derived data, created here at start-up rather than by a migration, and rebuilt by
``nexod knowledge reconcile``.

Queries are natural language: the words are OR-ed, and the engine ranks (FTS5's ``bm25()``;
PostgreSQL's ``ts_rank`` with length normalisation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, column, func, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nexod.db.models import VectorMetadata

MAX_TERMS = 64
_WORD = re.compile(r"\w+", re.UNICODE)

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS vector_metadata_fts USING fts5("
    "text, content='vector_metadata', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS vector_metadata_fts_ai AFTER INSERT ON vector_metadata BEGIN "
    "INSERT INTO vector_metadata_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS vector_metadata_fts_ad AFTER DELETE ON vector_metadata BEGIN "
    "INSERT INTO vector_metadata_fts(vector_metadata_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS vector_metadata_fts_au AFTER UPDATE OF text ON vector_metadata BEGIN "
    "INSERT INTO vector_metadata_fts(vector_metadata_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO vector_metadata_fts(rowid, text) VALUES (new.id, new.text); END",
]
# The tsvector is stored (a generated column): ranking reads it instead of parsing every matched
# chunk's text again, which made keyword search the slow leg of hybrid search on PostgreSQL.
PG_DDL = [
    "ALTER TABLE vector_metadata ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_vector_metadata_tsv ON vector_metadata USING gin (tsv)",
    "DROP INDEX IF EXISTS ix_vector_metadata_fts",  # the expression index it replaces
    "CREATE INDEX IF NOT EXISTS ix_vector_metadata_meta ON vector_metadata USING gin (metadata)",
]


FTS = table("vector_metadata_fts", column("rowid"))


@dataclass(frozen=True)
class KeywordHit:
    """A row id of ``vector_metadata`` and its keyword score (higher is better)."""

    row_id: int
    score: float


async def setup_keyword_index(conn: AsyncConnection) -> None:
    """Create the full-text index for this dialect (idempotent)."""
    ddl = PG_DDL if conn.dialect.name == "postgresql" else SQLITE_DDL
    if conn.dialect.name == "postgresql":  # several processes may start at once
        await conn.execute(text("SELECT pg_advisory_xact_lock(74658)"))
    for stmt in ddl:
        await conn.execute(text(stmt))


async def rebuild_keyword_index(conn: AsyncConnection) -> None:
    """Rebuild the index from the table (SQLite; PostgreSQL's index never drifts)."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("INSERT INTO vector_metadata_fts(vector_metadata_fts) VALUES ('rebuild')"))
    else:
        await conn.execute(text("REINDEX INDEX ix_vector_metadata_tsv"))


def terms(query: str) -> list[str]:
    """The distinct words of a query, in order, at most ``MAX_TERMS``."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


async def keyword_search(session: AsyncSession, query: str, *, org_id: str, namespace: str, k: int,
                         where: ColumnElement[bool]) -> list[KeywordHit]:
    """The ``k`` best rows for ``query`` in one namespace that also satisfy ``where``."""
    words = terms(query)
    if not words:
        return []
    vm = VectorMetadata.__table__
    scope = (vm.c.org_id == org_id, vm.c.namespace == namespace, where)
    if session.get_bind().dialect.name == "postgresql":
        tsquery = func.to_tsquery(literal_column("'english'"), " | ".join(words))
        vector: ColumnElement[Any] = literal_column("vector_metadata.tsv")
        score = func.ts_rank(vector, tsquery, 1).label("score")
        stmt = (select(vm.c.id, score).where(vector.op("@@")(tsquery), *scope)
                .order_by(score.desc(), vm.c.id).limit(k))
        rows = (await session.execute(stmt)).all()
        return [KeywordHit(int(r.id), float(r.score)) for r in rows]
    match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    rank: ColumnElement[float] = literal_column("bm25(vector_metadata_fts)")
    stmt = (
        select(vm.c.id, rank.label("rank"))
        .select_from(FTS.join(vm, FTS.c.rowid == vm.c.id))
        .where(literal_column("vector_metadata_fts").op("MATCH")(match), *scope)
        .order_by(rank, vm.c.id).limit(k)
    )
    rows = (await session.execute(stmt)).all()
    # bm25() is lower-is-better (negative); flip it so every score is higher-is-better.
    return [KeywordHit(int(r.id), -float(r.rank)) for r in rows]
