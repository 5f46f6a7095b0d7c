"""``/threads``: thread CRUD, state and history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from langgraph.errors import InvalidUpdateError

from nexod.api.deps import (
    APPROVE,
    READ,
    WRITE,
    CheckpointId,
    CoreDep,
    OrgDep,
    PrincipalDep,
    ThreadId,
    check_ref_thread,
    json_response,
    optional_uuid,
    require_checkpoint,
    select_fields,
)
from nexod.api.schemas import (
    CheckpointRef,
    HistoryRequest,
    StateCheckpointRequest,
    StateUpdate,
    ThreadCount,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
)
from nexod.errors import InvalidInput, NotFound
from nexod.resources.threads import thread_dict

router = APIRouter(prefix="/threads", tags=["threads"])

TTL_UNSUPPORTED = "thread TTLs are not supported yet; delete threads with DELETE /threads/{thread_id}"


def _extract(values: Any, path: str) -> Any:
    cur = values
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


@router.post("", summary="Create a thread", dependencies=[WRITE])
async def create(core: CoreDep, org: OrgDep, body: ThreadCreate | None = None) -> Response:
    body = body or ThreadCreate()
    if body.ttl is not None:
        raise InvalidInput(TTL_UNSUPPORTED, field="ttl")
    if body.supersteps:
        raise InvalidInput("supersteps are not supported yet; create the thread, then POST /threads/{id}/state",
                           field="supersteps")
    if body.graph_id is not None and body.graph_id not in core.registry.ids:
        raise InvalidInput(f"unknown graph_id {body.graph_id!r}", field="graph_id")
    row = await core.threads.create(
        org, thread_id=body.thread_id, metadata=body.metadata, if_exists=body.if_exists, graph_id=body.graph_id
    )
    return json_response(thread_dict(row))


@router.post("/search", summary="Search threads", dependencies=[READ])
async def search(core: CoreDep, org: OrgDep, body: ThreadSearch | None = None) -> Response:
    body = body or ThreadSearch()
    rows, nxt = await core.threads.search(
        org, metadata=body.metadata, values=body.values, ids=body.ids, status=body.status,
        limit=body.limit, offset=body.offset, sort_by=body.sort_by, sort_order=body.sort_order,
    )
    out = []
    for r in rows:
        d = select_fields(thread_dict(r), body.select)
        if body.extract:  # asked for explicitly, so kept whatever `select` says
            d["extracted"] = {alias: _extract(r.values, path) for alias, path in body.extract.items()}
        out.append(d)
    headers = {"X-Pagination-Next": str(nxt)} if nxt is not None else None
    return json_response(out, headers=headers)


@router.post("/count", summary="Count threads", dependencies=[READ])
async def count(core: CoreDep, org: OrgDep, body: ThreadCount | None = None) -> int:
    body = body or ThreadCount()
    return await core.threads.count(org, metadata=body.metadata, values=body.values, status=body.status)


@router.get("/{thread_id}", summary="Get a thread", dependencies=[READ])
async def get(thread_id: ThreadId, core: CoreDep, org: OrgDep) -> Response:
    return json_response(thread_dict(await core.threads.get(org, thread_id)))


@router.patch("/{thread_id}", summary="Update a thread's metadata", dependencies=[WRITE])
async def patch(
    thread_id: ThreadId, body: ThreadPatch, core: CoreDep, org: OrgDep,
    prefer: Annotated[str | None, Header()] = None,
) -> Response:
    if body.ttl is not None:
        raise InvalidInput(TTL_UNSUPPORTED, field="ttl")
    row = await core.threads.update(org, thread_id, metadata=body.metadata)
    if prefer and "return=minimal" in prefer:
        return Response(status_code=204)
    return json_response(thread_dict(row))


@router.delete("/{thread_id}", status_code=204, summary="Delete a thread, its runs and checkpoints", dependencies=[WRITE])
async def delete(thread_id: ThreadId, core: CoreDep, org: OrgDep) -> Response:
    await core.threads.get(org, thread_id)
    await core.runs.cancel_thread_runs(org, thread_id)
    await core.threads.delete(org, thread_id)
    return Response(status_code=204)


@router.post("/{thread_id}/copy", summary="Copy a thread with its whole history", dependencies=[WRITE])
async def copy(thread_id: ThreadId, core: CoreDep, org: OrgDep) -> Response:
    return json_response(thread_dict(await core.threads.copy(org, thread_id)))


@router.get("/{thread_id}/state", summary="The thread's current state", dependencies=[READ])
async def get_state(thread_id: ThreadId, core: CoreDep, org: OrgDep, subgraphs: bool = False) -> Response:
    return json_response(await core.state.get(org, thread_id, subgraphs=subgraphs))


@router.post("/{thread_id}/state", summary="Update the thread's state", dependencies=[APPROVE])
async def update_state(
    thread_id: ThreadId, body: StateUpdate, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    thread = await core.threads.get(org, thread_id)
    assistant_id = thread.metadata_.get("assistant_id")
    if isinstance(assistant_id, str):  # approving an interrupt of that assistant's run
        try:
            row = await core.assistants.get(org, assistant_id)
        except NotFound:
            pass  # the assistant was deleted: the organisation-wide permission applies
        else:
            await core.auth.permissions.require_on(
                who, "approve", row.assistant_id, f"update the state of a thread of assistant {assistant_id}")
    check_ref_thread(body.checkpoint, thread_id, "checkpoint")
    checkpoint = body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else {}
    if body.checkpoint_id:
        checkpoint["checkpoint_id"] = body.checkpoint_id
    if checkpoint.get("checkpoint_id"):
        # Forking from a checkpoint that is not there would silently start a new root.
        await require_checkpoint(core, org, thread_id, checkpoint)
    try:
        result = await core.state.update(
            org, thread_id, values=body.values, as_node=body.as_node, checkpoint=checkpoint or None
        )
    except InvalidUpdateError as exc:
        field = "as_node" if body.as_node and "does not exist" in str(exc) else "values"
        raise InvalidInput(f"cannot update state: {exc}", field=field) from exc
    return json_response(result)


@router.post("/{thread_id}/state/checkpoint", summary="The thread's state at a checkpoint", dependencies=[READ])
async def state_at_checkpoint(
    thread_id: ThreadId, body: StateCheckpointRequest, core: CoreDep, org: OrgDep
) -> Response:
    check_ref_thread(body.checkpoint, thread_id, "checkpoint")
    cp = body.checkpoint.model_dump(exclude_none=True)
    return json_response(await require_checkpoint(core, org, thread_id, cp, subgraphs=body.subgraphs))


@router.get("/{thread_id}/state/{checkpoint_id}", summary="The thread's state at a checkpoint id", dependencies=[READ])
async def state_at(
    thread_id: ThreadId, checkpoint_id: CheckpointId, core: CoreDep, org: OrgDep, subgraphs: bool = False
) -> Response:
    return json_response(
        await require_checkpoint(core, org, thread_id, {"checkpoint_id": checkpoint_id}, subgraphs=subgraphs)
    )


@router.post("/{thread_id}/history", summary="Past states, newest first", dependencies=[READ])
async def history(thread_id: ThreadId, core: CoreDep, org: OrgDep, body: HistoryRequest | None = None) -> Response:
    body = body or HistoryRequest()
    check_ref_thread(body.checkpoint, thread_id, "checkpoint")
    if not isinstance(body.before, str):
        check_ref_thread(body.before, thread_id, "before")
    before: Any = body.before.model_dump(exclude_none=True) if isinstance(body.before, CheckpointRef) else body.before
    return json_response(
        await core.state.history(
            org, thread_id, limit=body.limit, before=before, metadata=body.metadata,
            checkpoint=body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else None,
        )
    )


@router.get("/{thread_id}/history", summary="Past states, newest first", dependencies=[READ])
async def history_get(
    thread_id: ThreadId, core: CoreDep, org: OrgDep, limit: int = Query(10, ge=1, le=1000),
    before: str | None = None,
) -> Response:
    return json_response(
        await core.state.history(org, thread_id, limit=limit, before=optional_uuid(before, "before"))
    )
