"""Database query time through SQLAlchemy's cursor events."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.observability.base import Metrics

_OPS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK"})


def statement_op(statement: str) -> str:
    """The statement's first keyword (``SELECT``, ``INSERT``…), or ``OTHER``: a bounded label."""
    word = statement.lstrip()[:8].split(None, 1)[0].upper() if statement.strip() else ""
    return word if word in _OPS else "OTHER"


def instrument_engine(engine: AsyncEngine, metrics: Metrics) -> None:
    """Time every statement run on ``engine`` (and on engines derived from it)."""
    sync = engine.sync_engine

    def before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("nexod_t0", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        starts = conn.info.get("nexod_t0")
        if starts:
            metrics.db_query(op=statement_op(stmt), seconds=time.perf_counter() - starts.pop())

    def failed(ctx: Any) -> None:
        conn = ctx.connection
        if conn is not None and conn.info.get("nexod_t0"):
            conn.info["nexod_t0"].pop()

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "handle_error", failed)
