"""The ``nexod`` command: serve, worker, status, slo, migrate, keys, run, crews, ingest, search,
knowledge."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from nexod.errors import ConfigError
from nexod.settings import Settings, load_settings

if TYPE_CHECKING:
    from nexod.graphs.registry import GraphRegistry

app = typer.Typer(help="Nexod: a self-hosted agent server.", no_args_is_help=True, add_completion=False)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.secho(f"nexod: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _registry(settings: Settings) -> GraphRegistry:
    """Load every graph of the config file, or exit 2 naming what is wrong."""
    from nexod.core import load_registry

    try:
        return load_registry(settings)
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
    from nexod.logs import setup_logging

    settings = _settings(host=host, port=port, config=config, workers=workers)
    setup_logging(settings.log_level)
    registry = _registry(settings)
    where = "PostgreSQL" if settings.is_postgres else f"SQLite in {settings.data_dir}/"
    graphs = ", ".join(registry.ids) or "none (add a nexod.json or langgraph.json)"
    typer.secho(
        f"Nexod on http://{settings.host}:{settings.port}  storage: {where}  graphs: {graphs}  "
        "dashboard: /ui/  docs: /docs",
        fg="green", err=True,
    )
    api = create_app(settings, run_worker=not no_worker, registry=registry)

    class Server(uvicorn.Server):
        """Uvicorn, plus: the first SIGTERM stops the worker claiming at once (uvicorn first
        waits for open connections), a second one releases its runs without more grace."""

        signals = 0

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            core = getattr(api.state, "core", None)
            if core is not None and core.worker is not None:
                self.signals += 1
                act = core.worker.drain if self.signals == 1 else core.worker.hurry
                asyncio.get_event_loop_policy().get_event_loop().call_soon_threadsafe(act)
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(
        api, host=settings.host, port=settings.port, log_level="warning",
        timeout_graceful_shutdown=10, loop="uvloop" if os.name == "posix" else "auto",
    )).run()


@app.command()
def worker(
    config: Annotated[Path | None, typer.Option(help="Graph config file [NEXOD_CONFIG]")] = None,
    workers: Annotated[int | None, typer.Option(help="Runs executed at once [NEXOD_WORKERS]")] = None,
) -> None:
    """Execute runs only (no HTTP): add as many as you like beside `nexod serve --no-worker`.

    Needs PostgreSQL (NEXOD_DATABASE_URL) and, for instant wake-ups and cancels, Redis
    (NEXOD_REDIS_URL). SIGTERM: stop claiming, let runs finish within NEXOD_SHUTDOWN_GRACE
    seconds, then hand the rest back to the queue; a second SIGTERM hands them back at once.
    """
    from nexod.logs import setup_logging
    from nexod.observability.sentry import init_sentry

    settings = _settings(config=config, workers=workers)
    if not settings.is_postgres:
        typer.secho(
            "nexod: `nexod worker` needs NEXOD_DATABASE_URL=postgresql://… so that workers and "
            "API processes share one queue; embedded mode runs both in `nexod serve`.",
            fg="red", err=True,
        )
        raise typer.Exit(2)
    if settings.workers < 1:
        typer.secho("nexod: NEXOD_WORKERS / --workers must be at least 1 for a worker", fg="red", err=True)
        raise typer.Exit(2)
    setup_logging(settings.log_level)
    init_sentry(settings)
    registry = _registry(settings)
    bus = "Redis" if settings.redis_url else f"none (polling every {settings.poll_interval} s)"
    graphs = ", ".join(registry.ids) or "none"
    typer.secho(f"Nexod worker: {settings.workers} runs at once  graphs: {graphs}  bus: {bus}",
                fg="green", err=True)
    asyncio.run(_work(settings, registry))


async def _work(settings: Settings, registry: GraphRegistry) -> None:
    from nexod.core import open_core

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with open_core(settings, run_worker=True, registry=registry) as core:
        assert core.worker is not None
        prom = core.obs.prometheus
        if settings.metrics_port is not None and prom is not None:
            from prometheus_client import start_http_server

            start_http_server(settings.metrics_port, addr=settings.host, registry=prom.collector())
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            assert core.worker is not None
            if signals == 1:
                core.worker.drain()
                stop.set()
            else:
                core.worker.hurry()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        typer.secho(f"nexod worker ready: {core.worker.worker_id}", fg="green", err=True)
        await stop.wait()


@app.command()
def status() -> None:
    """Show workers (heartbeat, runs in flight) and the run queue of the configured database."""
    from rich.console import Console
    from rich.table import Table

    from nexod.db.engine import create_engine
    from nexod.runs.health import WorkerBeats, queue_depth

    settings = _settings()

    async def _read() -> tuple[list[dict[str, object]], dict[str, object]]:
        engine = create_engine(settings)
        try:
            beats = await WorkerBeats(engine).report(alive_within=settings.lease_seconds)
            return beats, await queue_depth(engine)
        finally:
            await engine.dispose()

    try:
        beats, depth = asyncio.run(_read())
    except Exception as exc:
        typer.secho(f"nexod: cannot read the database: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    console = Console()
    table = Table("worker", "status", "in flight", "capacity", "heartbeat age (s)", "alive")
    for b in beats:
        table.add_row(str(b["worker_id"]), str(b["status"]), str(b["in_flight"]), str(b["capacity"]),
                      str(b["heartbeat_age_seconds"]), "yes" if b["alive"] else "[red]no[/red]")
    console.print(table)
    console.print(
        f"queue: {depth['pending']} due, {depth['scheduled']} scheduled, {depth['running']} running; "
        f"oldest due run waiting {depth['oldest_pending_seconds']} s"
    )


@app.command()
def slo(
    url: Annotated[str | None, typer.Option(help="Server to ask [http://NEXOD_HOST:NEXOD_PORT]")] = None,
    window: Annotated[float | None, typer.Option(help="Seconds [NEXOD_SLO_WINDOW]")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    api_key: Annotated[str | None, typer.Option(help="API key, when the server needs one (NEXOD_AUTH=apikey)")] = None,
) -> None:
    """The seed's latency targets: p50 / p95 over a recent window, measured by a running server."""
    import httpx
    from rich.console import Console
    from rich.table import Table

    settings = _settings()
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    params = {"window": window} if window is not None else {}
    try:
        headers = {"x-api-key": api_key} if api_key else {}
        resp = httpx.get(f"{base}/slo", params=params, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        typer.secho(f"nexod: cannot reach {base}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if resp.status_code != 200:
        typer.secho(f"nexod: {base}/slo answered {resp.status_code}: {resp.text[:300]}", fg="red", err=True)
        raise typer.Exit(1)
    body = resp.json()
    if json_out:
        typer.echo(resp.text)
        return

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.1f} ms"

    table = Table("SLO", "target p95", "count", "p50", "p95", "holds",
                  title=f"last {body['window_seconds']:g} s (history covers {body['covered_seconds']:g} s)")
    for s in body["slos"]:
        verdict = {True: "[green]yes[/green]", False: "[red]NO[/red]", None: "no data"}[s["holds"]]
        table.add_row(s["name"], ms(s["target_p95_seconds"]), str(s["count"]), ms(s["p50_seconds"]),
                      ms(s["p95_seconds"]), verdict)
    Console().print(table)
    if any(s["holds"] is False for s in body["slos"]):
        raise typer.Exit(3)


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


@app.command()
def budget(
    org: Annotated[str, typer.Argument(help="Organisation id (`local` in embedded mode)")] = "local",
    tokens: Annotated[int | None, typer.Option(help="Its own token budget per month (0: none)")] = None,
    cost: Annotated[float | None, typer.Option(help="Its own cost budget per month (0: none)")] = None,
    default: Annotated[bool, typer.Option("--default", help="Drop its own budget: back to "
                                          "NEXOD_ORG_TOKEN_BUDGET / NEXOD_ORG_COST_BUDGET")] = False,
) -> None:
    """Show (or set) an organisation's budget for this month and what it has spent."""
    from nexod.budgets.base import Limits, Spend
    from nexod.budgets.sql import SqlOrgBudgets
    from nexod.db.engine import create_engine
    from nexod.db.migrate import upgrade
    from nexod.errors import InvalidInput

    settings = _settings()
    if default and (tokens is not None or cost is not None):
        typer.secho("nexod: --default drops the organisation's own budget; give it without "
                    "--tokens / --cost", fg="red", err=True)
        raise typer.Exit(2)

    async def _run() -> tuple[Limits, Spend]:
        engine = create_engine(settings)
        try:
            await upgrade(engine)
            budgets = SqlOrgBudgets(engine, tokens=settings.org_token_budget, cost=settings.org_cost_budget)
            if default:
                limits = await budgets.clear_limits(org)
            else:
                limits = await budgets.set_limits(org, tokens=tokens, cost=cost)
            return limits, await budgets.spent(org)
        finally:
            await engine.dispose()

    try:
        limits, spend = asyncio.run(_run())
    except InvalidInput as exc:
        typer.secho(f"nexod: --{exc.field}: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"organisation {org}, {spend.period}: {spend.tokens} tokens of "
               f"{limits.tokens if limits.tokens is not None else 'unlimited'}, cost {spend.cost:g} of "
               f"{limits.cost if limits.cost is not None else 'unlimited'}")


def _register_keys() -> None:
    from nexod.auth.cli import register

    register(app, _settings)


_register_keys()


@app.command("run")
def run_cmd(
    crew: Annotated[str, typer.Argument(help="Crew id (see `nexod crews`)")],
    input_: Annotated[list[str] | None, typer.Option("--input", "-i", help="key=value, repeatable")] = None,
    config: Annotated[Path | None, typer.Option(help="Graph config file [NEXOD_CONFIG]")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No tokens, only task results")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON on stdout")] = False,
    no_files: Annotated[bool, typer.Option("--no-files", help="Do not write tasks' output_file")] = False,
) -> None:
    """Run a crew here, showing each agent's work as it streams, then print the final report."""
    import json

    from rich.console import Console

    from nexod.cli_crews import parse_inputs, run_crew
    from nexod.errors import NexodError

    settings = _settings(config=config)
    console = Console(stderr=json_out)
    registry = _registry(settings)
    try:
        inputs = parse_inputs(input_ or [])
        outcome = asyncio.run(run_crew(settings, registry, crew, inputs, console=console,
                                       show_tokens=not quiet, write=not no_files))
    except (ValueError, NexodError) as exc:
        typer.secho(f"nexod: {getattr(exc, 'message', exc)}", fg="red", err=True)
        raise typer.Exit(2) from exc
    except RuntimeError as exc:
        typer.secho(f"nexod: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if json_out:
        typer.echo(json.dumps(outcome, default=str))
        return
    if outcome["status"] == "completed":
        console.rule("report")
        console.print(outcome["result"] or "", highlight=False)
        for agent, u in outcome["usage"].items():
            cost = f", cost {u['cost']:.6f}" if u.get("cost") is not None else ""
            console.print(f"[dim]{agent}: {u['input_tokens']} in / {u['output_tokens']} out tokens{cost}[/]")
        for path in outcome["files"].values():
            console.print(f"[dim]wrote {path}[/]")
        console.print(f"[dim]{outcome['seconds']} s in all[/]")


@app.command()
def crews(
    config: Annotated[Path | None, typer.Option(help="Graph config file [NEXOD_CONFIG]")] = None,
) -> None:
    """List the crews, their inputs, agents and tasks."""
    from rich.console import Console
    from rich.table import Table

    registry = _registry(_settings(config=config))
    table = Table("crew", "inputs", "process", "agents → tasks", "description")
    for cid, c in registry.crews().items():
        flow = " → ".join(f"{t.agent or '?'}:{t.name}{' (review)' if t.human_input else ''}" for t in c.tasks)
        table.add_row(cid, ", ".join(c.inputs) or "-", c.process, flow, c.description or "")
    Console().print(table)


from nexod.cli_knowledge import ingest_command, knowledge_app, search_command  # noqa: E402

app.command("ingest")(ingest_command)
app.command("search")(search_command)
app.add_typer(knowledge_app, name="knowledge")


def main() -> None:
    """Entry point of the ``nexod`` script."""
    app()


if __name__ == "__main__":
    main()
