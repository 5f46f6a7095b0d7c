"""Request-scoped dependencies and response helpers shared by the routers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from nexod.api.schemas import MAX_OFFSET, CheckpointRef
from nexod.auth.base import Credentials, Permission, Principal
from nexod.auth.permissions import Permissions
from nexod.core import Core
from nexod.errors import Forbidden, InvalidInput, NotFound
from nexod.serde import dumps
from nexod.settings import LOCAL_ORG


async def get_core(request: Request) -> Core:
    """The process-wide :class:`Core`."""
    core: Core = request.app.state.core
    return core


async def get_principal(request: Request) -> Principal:
    """The authenticated caller (401 naming what was wrong otherwise)."""
    core: Core = request.app.state.core
    who = await core.auth.authenticate(Credentials.from_headers(request.headers, request.cookies))
    request.state.principal = who
    return who


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_org(who: PrincipalDep) -> str:
    """The caller's organisation: every query of the request is scoped to it."""
    return who.org_id


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, a hand-off that cost several percent of a run's CPU.
CoreDep = Annotated[Core, Depends(get_core)]
OrgDep = Annotated[str, Depends(get_org)]


def need(permission: Permission, what: str) -> Any:
    """A route dependency: 403 unless the caller's role and scopes allow ``permission``."""

    async def check(who: PrincipalDep) -> None:
        Permissions.require(who, permission, what)

    return Depends(check)


READ = need("read", "read this organisation's data")
WRITE = need("write", "change threads or the store")
RUN = need("run", "start or cancel runs")
APPROVE = need("approve", "update a thread's state")
ADMINISTER = need("administer", "administer this organisation")


def operator(what: str) -> Any:
    """A route dependency for the platform's operator: admins of the local organisation (the
    local user, or keys made with `nexod keys create` and its default --org); 403 otherwise."""

    async def check(who: PrincipalDep) -> None:
        if who.org_id != LOCAL_ORG or "administer" not in who.permissions:
            raise Forbidden("administer", f"{what} (admins of the local organisation)")

    return Depends(check)


# Documented in the OpenAPI schema; checked by _uuid so the 422 names the parameter.
UUID_FORMAT: dict[str, Any] = {"format": "uuid"}


def _uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"{name} must be a UUID, got {value!r}", field=name) from None


async def thread_id_param(
    thread_id: Annotated[str, Path(description="Thread UUID", json_schema_extra=UUID_FORMAT)],
) -> str:
    """A validated thread id path parameter."""
    return _uuid(thread_id, "thread_id")


async def run_id_param(
    run_id: Annotated[str, Path(description="Run UUID", json_schema_extra=UUID_FORMAT)],
) -> str:
    """A validated run id path parameter."""
    return _uuid(run_id, "run_id")


async def checkpoint_id_param(
    checkpoint_id: Annotated[str, Path(description="Checkpoint UUID", json_schema_extra=UUID_FORMAT)],
) -> str:
    """A validated checkpoint id path parameter (LangGraph checkpoint ids are UUIDv6)."""
    return _uuid(checkpoint_id, "checkpoint_id")


ThreadId = Annotated[str, Depends(thread_id_param)]
RunId = Annotated[str, Depends(run_id_param)]
CheckpointId = Annotated[str, Depends(checkpoint_id_param)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def optional_uuid(value: str | None, name: str) -> str | None:
    """A UUID query parameter that may be absent."""
    return None if value is None else _uuid(value, name)


def check_ref_thread(ref: CheckpointRef | None, thread_id: str, name: str) -> None:
    """A checkpoint reference in a body must point into the thread named by the path."""
    if ref is not None and ref.thread_id is not None and ref.thread_id != thread_id:
        raise InvalidInput(
            f"{name}.thread_id is {ref.thread_id}, but the request is about thread {thread_id}",
            field=f"{name}.thread_id",
        )


async def require_checkpoint(
    core: Core, org: str, thread_id: str, checkpoint: dict[str, Any], *, subgraphs: bool = False
) -> dict[str, Any]:
    """The thread's state at ``checkpoint``; NotFound when it names a checkpoint that is not there."""
    state = await core.state.get(org, thread_id, checkpoint=checkpoint, subgraphs=subgraphs)
    # LangGraph answers a missing checkpoint with an empty snapshot (no creation time).
    if checkpoint.get("checkpoint_id") and state.get("created_at") is None:
        raise NotFound("checkpoint", checkpoint["checkpoint_id"])
    return state


def json_response(obj: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded with orjson (handles messages, datetimes, models)."""
    return Response(dumps(obj), status_code=status_code, media_type="application/json", headers=headers)


def select_fields(obj: dict[str, Any], select: Sequence[str] | None) -> dict[str, Any]:
    """Keep only the requested fields (the ``select`` option of search endpoints)."""
    if not select:
        return obj
    return {k: v for k, v in obj.items() if k in select}
