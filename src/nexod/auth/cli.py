"""``nexod keys create|list|revoke``: API keys from the command line (no server needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from nexod.errors import NexodError
from nexod.settings import LOCAL_ORG, Settings

if TYPE_CHECKING:  # imported where used: every `nexod` command loads this module
    from nexod.auth.keys import ApiKeys
    from nexod.auth.sessions import Sessions

T = TypeVar("T")
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
OrgOption = Annotated[str, typer.Option("--org", help="Organisation the key belongs to")]


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[tuple[ApiKeys, Sessions]]:
    from nexod.auth.keys import ApiKeys
    from nexod.auth.revocations import Watermark
    from nexod.auth.sessions import Sessions
    from nexod.cache.base import open_caches
    from nexod.db.engine import create_engine, sessionmaker
    from nexod.db.migrate import upgrade

    engine = create_engine(settings)
    try:
        await upgrade(engine)
        db = sessionmaker(engine)
        async with open_caches(settings.redis_url) as caches:
            watermark = Watermark(db)
            yield ApiKeys(db, caches, watermark), Sessions(db, caches, settings.session_ttl, watermark)
    finally:
        await engine.dispose()


def _run(settings: Settings, work: Callable[[ApiKeys, Sessions], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _open(settings) as (keys, sessions):
            return await work(keys, sessions)

    try:
        return asyncio.run(go())
    except NexodError as exc:
        typer.secho(f"nexod: {exc.message}", fg="red", err=True)
        raise typer.Exit(2) from exc


def register(app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """Add the ``keys`` command group to the ``nexod`` command."""

    @keys_app.command("create")
    def create(
        name: Annotated[str, typer.Option(help="What the key is for")],
        org: OrgOption = LOCAL_ORG,
        scope: Annotated[list[str] | None, typer.Option(
            help="read, write, run, approve, administer (repeat; default: all but administer)")] = None,
        expires_days: Annotated[float | None, typer.Option(help="Days until the key expires")] = None,
    ) -> None:
        """Create a key and print it once: it cannot be shown again."""
        new = _run(settings(), lambda keys, _: keys.create(
            org, name=name, scopes=scope or None, created_by="cli",
            expires_in=timedelta(days=expires_days) if expires_days else None))
        typer.secho(f"key {new.row.key_id} ({', '.join(new.row.scopes)}) for org {org}; "
                    "store it now, it is not shown again:", fg="green", err=True)
        typer.echo(new.secret)

    @keys_app.command("list")
    def list_(org: OrgOption = LOCAL_ORG) -> None:
        """List an organisation's keys (never their secrets)."""
        from nexod.auth.keys import key_dict

        rows = _run(settings(), lambda keys, _: keys.list(org))
        for row in rows:
            d = key_dict(row)
            state = "revoked" if d["revoked_at"] else f"expires {d['expires_at']}" if d["expires_at"] else "active"
            typer.echo(f"{d['key_id']}  {d['prefix']}…  {d['name']}  [{','.join(d['scopes'])}]  {state}")

    @keys_app.command("revoke")
    def revoke(key_id: str, org: OrgOption = LOCAL_ORG) -> None:
        """Revoke a key: refused from the next request on, its sessions ended."""
        async def work(keys: ApiKeys, sessions: Sessions) -> None:
            await keys.revoke(org, key_id)
            await sessions.end_where(org, credential=key_id)

        _run(settings(), work)
        typer.secho(f"key {key_id} revoked", fg="green", err=True)

    app.add_typer(keys_app, name="keys")
