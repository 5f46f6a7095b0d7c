"""``nexod ingest``, ``nexod search`` and ``nexod knowledge …``: the knowledge base from a shell.

They work on the storage the settings name (embedded files under ``NEXOD_DATA_DIR``, or
PostgreSQL), or, with ``--url``, through a running server's API. Heavy imports happen inside
the commands, so ``nexod search`` starts fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nexod.errors import NexodError
from nexod.settings import LOCAL_ORG, Settings, load_settings

if TYPE_CHECKING:
    from nexod.knowledge.service import KnowledgeBase

knowledge_app = typer.Typer(help="Knowledge base maintenance.", no_args_is_help=True)

NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Knowledge namespace")]
UrlOpt = Annotated[str | None, typer.Option(help="Use a running server (http://host:port) instead of the storage")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"nexod: {message}", fg="red", err=True)
    return typer.Exit(code)


@asynccontextmanager
async def open_kb(settings: Settings, *, migrate: bool = True, warm: bool = False) -> AsyncIterator[KnowledgeBase]:
    """The knowledge base on the configured storage, without graphs or workers.

    ``migrate=False`` skips Alembic (a read-only command on a database that has none of our
    tables fails on first use instead); ``warm`` starts loading the embedding model at once,
    in a thread, beside the database work.
    """
    from nexod.db.engine import create_engine, sessionmaker
    from nexod.knowledge.service import open_knowledge

    engine = create_engine(settings)
    kb = None
    loading: asyncio.Task[None] | None = None
    try:
        kb = open_knowledge(settings, engine, sessionmaker(engine))
        if warm:
            loading = asyncio.create_task(kb.embedder.setup())
        if migrate:
            from nexod.db.migrate import upgrade

            await upgrade(engine)
        await kb.setup()
        yield kb
    finally:
        if loading is not None and not loading.done():
            loading.cancel()
        if kb is not None:
            await kb.aclose()
        await engine.dispose()


def source_name(path: Path) -> str:
    """A file's document source: relative to the working directory when inside it."""
    full = path.resolve()
    try:
        return full.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def collect(paths: Iterable[Path]) -> tuple[list[Path], int]:
    """Files to ingest: named files as given, folders recursively (supported types only).

    Returns the files and how many files inside folders were skipped as unsupported.
    """
    from nexod.knowledge.parsing import EXTENSIONS

    files: list[Path] = []
    skipped = 0
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if not f.is_file() or any(part.startswith(".") for part in f.relative_to(path).parts):
                    continue
                if f.suffix.lower() in EXTENSIONS:
                    files.append(f)
                else:
                    skipped += 1
        elif path.is_file():
            files.append(path)
        else:
            raise _fail(f"{path}: no such file or folder", 2)
    return files, skipped


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursively)")],
    namespace: NamespaceOpt = "default",
    metadata: Annotated[str | None, typer.Option(help="JSON object added to every document")] = None,
    url: UrlOpt = None,
) -> None:
    """Ingest files and folders into the knowledge base, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    try:
        meta = json.loads(metadata) if metadata else {}
    except json.JSONDecodeError as exc:
        raise _fail(f"--metadata must be a JSON object: {exc}", 2) from exc
    files, skipped = collect(paths)
    if not files:
        raise _fail("nothing to ingest (no supported files found)", 2)
    failures: list[str] = []
    counts = {"indexed": 0, "unchanged": 0, "chunks": 0}

    async def run(progress: Progress, task: Any) -> None:
        async def one(send: Any, f: Path) -> None:
            progress.update(task, description=f"[cyan]{f.name}")
            try:
                doc, changed = await send(f)
                counts["indexed" if changed else "unchanged"] += 1
                counts["chunks"] += int(doc["chunk_count"]) if changed else 0
            except NexodError as exc:
                failures.append(f"{f}: {exc.message}")
            progress.advance(task)

        if url:
            import httpx

            async with httpx.AsyncClient(base_url=url, timeout=300) as http:
                async def send(f: Path) -> tuple[dict[str, Any], bool]:
                    data = await asyncio.to_thread(f.read_bytes)
                    r = await http.post("/knowledge/documents", files={"file": (f.name, data)},
                                        data={"namespace": namespace, "source": source_name(f),
                                              "metadata": json.dumps(meta)})
                    if r.status_code >= 400:
                        raise NexodError(r.json().get("detail", r.text))
                    return r.json(), r.status_code == 201

                for f in files:
                    await one(send, f)
        else:
            async with open_kb(load_settings()) as kb:
                async def send_local(f: Path) -> tuple[dict[str, Any], bool]:
                    data = await asyncio.to_thread(f.read_bytes)
                    return await kb.ingest(LOCAL_ORG, data, source=source_name(f), namespace=namespace,
                                           filename=f.name, metadata=meta)

                for f in files:
                    await one(send_local, f)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("ingesting", total=len(files))
        try:
            asyncio.run(run(progress, task))
        except NexodError as exc:
            raise _fail(exc.message) from exc
        progress.update(task, description="[green]done")
    note = f", {skipped} unsupported files skipped" if skipped else ""
    typer.secho(f"{counts['indexed']} indexed ({counts['chunks']} chunks), {counts['unchanged']} unchanged, "
                f"{len(failures)} failed{note}", err=True)
    for line in failures:
        typer.secho(f"  {line}", fg="red", err=True)
    if failures:
        raise typer.Exit(1)


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for")],
    namespace: NamespaceOpt = "default",
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many hits")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, semantic or keyword")] = "hybrid",
    filter: Annotated[str | None, typer.Option("--filter", help="Metadata filter (JSON, Pinecone syntax)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON")] = False,
    url: UrlOpt = None,
) -> None:
    """Search the knowledge base and print ranked hits with their citations."""
    if mode not in ("hybrid", "semantic", "keyword"):
        raise _fail("--mode must be hybrid, semantic or keyword", 2)
    try:
        raw_filter = json.loads(filter) if filter else None
    except json.JSONDecodeError as exc:
        raise _fail(f"--filter must be JSON: {exc}", 2) from exc

    async def run() -> list[dict[str, Any]]:
        if url:
            import httpx

            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                r = await http.post("/knowledge/search", json={"query": query, "namespace": namespace, "k": k,
                                                               "mode": mode, "filter": raw_filter})
                if r.status_code >= 400:
                    raise NexodError(r.json().get("detail", r.text))
                return list(r.json()["hits"])
        from sqlalchemy.exc import DBAPIError

        from nexod.knowledge.filters import parse

        flt = parse(raw_filter)
        settings = load_settings()
        if not settings.is_postgres and not (settings.data_dir / "nexod.db").is_file():
            raise NexodError(f"no knowledge base in {settings.data_dir}/: ingest documents first (nexod ingest PATH)")
        try:
            async with open_kb(settings, migrate=False, warm=mode != "keyword") as kb:
                hits = await kb.search(LOCAL_ORG, query, namespace=namespace, k=k, mode=mode, filter=flt)  # type: ignore[arg-type]
                return [h.as_dict() for h in hits]
        except DBAPIError as exc:  # no knowledge tables yet: nothing was ever ingested here
            raise NexodError(f"the database has no knowledge base yet ({str(exc.orig).splitlines()[0]}): "
                             "run `nexod migrate` or ingest documents first") from exc

    try:
        hits = asyncio.run(run())
    except NexodError as exc:
        raise _fail(exc.message) from exc
    if as_json:
        sys.stdout.write(json.dumps(hits, indent=2, default=str) + "\n")
        return
    if not hits:
        typer.echo("no hits")
    for rank, h in enumerate(hits, start=1):
        where = f" > {h['section']}" if h.get("section") else ""
        page = f", page {h['page']}" if h.get("page") else ""
        typer.secho(f"{rank}. {h['source']}{where}  [chunk {h['chunk_index']}, chars "
                    f"{h['char_start']}-{h['char_end']}{page}]  score {h['score']:.4f}", bold=True)
        snippet = " ".join(h["text"].split())
        typer.echo(f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}")


@knowledge_app.command("reconcile")
def reconcile_command(
    rebuild: Annotated[bool, typer.Option(help="Drop the vector store and rebuild it from SQL")] = False,
) -> None:
    """Make the vector store and keyword index match vector_metadata (the source of truth)."""
    from nexod.knowledge.reconcile import reconcile

    async def run() -> dict[str, int]:
        settings = load_settings()
        if rebuild:
            from nexod.knowledge.reconcile import drop_store

            await drop_store(settings)
        async with open_kb(settings) as kb:
            return await reconcile(kb)

    try:
        report = asyncio.run(run())
    except NexodError as exc:
        raise _fail(exc.message) from exc
    typer.secho(", ".join(f"{k} {v}" for k, v in report.items()), fg="green", err=True)


@knowledge_app.command("model")
def model_command() -> None:
    """Build (if needed) the local embedding model's ONNX file and print where it is."""
    from nexod.knowledge.embeddings.local import ensure_onnx, package_model_dir

    settings = load_settings()
    try:
        path = ensure_onnx(package_model_dir(), settings.model_cache or settings.data_dir / "models")
    except NexodError as exc:
        raise _fail(exc.message) from exc
    typer.echo(str(path))
