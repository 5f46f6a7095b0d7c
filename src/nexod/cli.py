"""The ``nexod`` command: serve, migrate, ingest, search, knowledge."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from nexod.errors import ConfigError
from nexod.settings import Settings, load_settings

app = typer.Typer(help="Nexod: a self-hosted agent server.", no_args_is_help=True, add_completion=False)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.secho(f"nexod: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [NEXOD_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [NEXOD_PORT]")] = None,
    config: Annotated[Path | None, typer.Option(help="Graph config file [NEXOD_CONFIG]")] = None,
    workers: Annotated[int | None, typer.Option(help="Runs executed at once [NEXOD_WORKERS]")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only")] = False,
) -> None:
    """Start the API server (and run workers) — embedded SQLite unless NEXOD_DATABASE_URL is set."""
    import uvicorn

    from nexod.app import create_app
    from nexod.core import load_registry
    from nexod.logs import setup_logging

    settings = _settings(host=host, port=port, config=config, workers=workers)
    setup_logging(settings.log_level)
    try:
        registry = load_registry(settings)
    except ConfigError as exc:
        typer.secho(f"nexod: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from exc
    where = "PostgreSQL" if settings.is_postgres else f"SQLite in {settings.data_dir}/"
    graphs = ", ".join(registry.ids) or "none (add a nexod.json or langgraph.json)"
    typer.secho(
        f"Nexod on http://{settings.host}:{settings.port}  storage: {where}  graphs: {graphs}  docs: /docs",
        fg="green", err=True,
    )
    uvicorn.run(
        create_app(settings, run_worker=not no_worker, registry=registry),
        host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=10,
        loop="uvloop" if os.name == "posix" else "auto",
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (embedded mode also does this on start)."""
    from nexod.db.engine import create_engine
    from nexod.db.migrate import upgrade

    settings = _settings()

    async def _run() -> None:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    typer.secho("migrations applied", fg="green", err=True)


from nexod.cli_knowledge import ingest_command, knowledge_app, search_command  # noqa: E402

app.command("ingest")(ingest_command)
app.command("search")(search_command)
app.add_typer(knowledge_app, name="knowledge")


def main() -> None:
    """Entry point of the ``nexod`` script."""
    app()


if __name__ == "__main__":
    main()
