"""What each measurement runs against: a real ``nexod serve`` and an in-process peer checkpointer.

The server is a subprocess started by ``tests/servers.py`` (as the end-to-end tests do), on
SQLite or on a fresh PostgreSQL database. The peer is the same kind of LangGraph checkpointer
opened in this process, on its own file or fresh database, with the settings Nexod uses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from tests.servers import Server, postgres_database

from bench.config import DEFAULT_STEPS, GRAPH_CONFIG, GRAPHS_DIR, Backend, BenchConfig, BenchError


def graph_id(steps: int) -> str:
    """The graph (and default assistant) id of the trivial graph with ``steps`` nodes."""
    return f"trivial_{steps}"


def graph_config(steps: int, workdir: Path) -> Path:
    """The graph config to serve: ``graphs/langgraph.json``, or a generated one for another N."""
    if steps == DEFAULT_STEPS:
        return GRAPH_CONFIG
    module = GRAPHS_DIR / "trivial.py"
    graphs = {graph_id(n): f"{module}:graph_{n}" for n in (1, steps)}
    path = workdir / "langgraph.json"
    path.write_text(json.dumps({"graphs": graphs}, indent=2))
    return path


def require_pg(cfg: BenchConfig) -> str:
    """The PostgreSQL admin URL, or a BenchError that says how to get one."""
    if not cfg.pg_admin_url:
        raise BenchError(
            "PostgreSQL needs NEXOD_TEST_DATABASE_URL (or --database-url): run `make bench`, which "
            'starts it, or `eval "$(bash scripts/services.sh)"` first; or pass --backend sqlite'
        )
    return cfg.pg_admin_url


@contextmanager
def nexod_server(backend: Backend, cfg: BenchConfig, workdir: Path) -> Iterator[Server]:
    """A started ``nexod serve`` on ``backend`` serving the trivial graphs; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database(require_pg(cfg))) if backend == "postgres" else None
        server = Server(
            workdir / f"server-{backend}", database_url=url, config=graph_config(cfg.steps, workdir),
            extra_env={"NEXOD_WORKERS": str(cfg.workers)},
        )
        try:
            server.start()
        except RuntimeError as exc:
            raise BenchError(f"the {backend} server did not start: {exc}") from exc
        try:
            yield server
        except BaseException:
            tail = "\n".join(server.logs().splitlines()[-15:])
            print(f"--- last lines of the {backend} server log ({server.log_path}):\n{tail}", file=sys.stderr)
            raise
        finally:
            server.stop()


@asynccontextmanager
async def peer_checkpointer(
    backend: Backend, cfg: BenchConfig, workdir: Path
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The checkpointer bare LangGraph runs with: same library and settings as Nexod's own."""
    if backend == "postgres":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        with postgres_database(require_pg(cfg)) as url:
            # The pool Nexod opens (nexod.graphs.checkpointer): autocommit, no prepared statements;
            # but not its check= (a round trip on every checkout), which is Nexod's own cost.
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                url, min_size=2, max_size=20, open=False,
                kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            )
            await pool.open(wait=True)
            try:
                saver = AsyncPostgresSaver(pool)
                await saver.setup()
                yield saver
            finally:
                await pool.close()
    else:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = str(workdir / "peer-checkpoints.db")
        async with AsyncSqliteSaver.from_conn_string(path) as sqlite_saver:
            await sqlite_saver.setup()  # WAL, as Nexod's; then Nexod's two pragmas
            await sqlite_saver.conn.execute("PRAGMA synchronous=NORMAL")
            await sqlite_saver.conn.execute("PRAGMA busy_timeout=30000")
            yield sqlite_saver
