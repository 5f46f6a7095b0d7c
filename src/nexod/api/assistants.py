"""``/assistants``: the LangGraph Server assistant endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from nexod.api.deps import (
    ADMINISTER,
    READ,
    WRITE,
    CoreDep,
    OrgDep,
    PrincipalDep,
    json_response,
    select_fields,
)
from nexod.api.schemas import (
    MAX_VERSION,
    AssistantCount,
    AssistantCreate,
    AssistantPatch,
    AssistantSearch,
    SetLatest,
    VersionsSearch,
)
from nexod.auth.base import Principal
from nexod.cache.responses import cache_for, invalidate
from nexod.core import Core
from nexod.errors import InvalidInput
from nexod.resources.assistants import assistant_dict

router = APIRouter(prefix="/assistants", tags=["assistants"])


async def administer(core: Core, who: Principal, assistant_id: str) -> str:
    """404 outside the caller's organisation; 403 unless the caller may administer it."""
    row = await core.assistants.get(who.org_id, assistant_id)
    await core.auth.permissions.require_on(who, "administer", row.assistant_id,
                                           f"change or delete assistant {assistant_id}")
    return row.assistant_id


@router.post("", summary="Create an assistant", dependencies=[ADMINISTER])
async def create(body: AssistantCreate, core: CoreDep, org: OrgDep) -> Response:
    row = await core.assistants.create(
        org, graph_id=body.graph_id, assistant_id=body.assistant_id,
        config=body.config.model_dump(exclude_none=True) if body.config else None,
        context=body.context, metadata=body.metadata, if_exists=body.if_exists, name=body.name,
        description=body.description,
    )
    await invalidate(core.caches, org)
    return json_response(assistant_dict(row))


@router.post("/search", summary="Search assistants", dependencies=[READ])
@cache_for(seconds=60)
async def search(core: CoreDep, org: OrgDep, body: AssistantSearch | None = None) -> Response:
    body = body or AssistantSearch()
    rows, nxt = await core.assistants.search(
        org, metadata=body.metadata, graph_id=body.graph_id, name=body.name, limit=body.limit,
        offset=body.offset, sort_by=body.sort_by, sort_order=body.sort_order,
    )
    headers = {"X-Pagination-Next": str(nxt)} if nxt is not None else None
    return json_response([select_fields(assistant_dict(r), body.select) for r in rows], headers=headers)


@router.post("/count", summary="Count assistants", dependencies=[READ])
@cache_for(seconds=60)
async def count(core: CoreDep, org: OrgDep, body: AssistantCount | None = None) -> int:
    body = body or AssistantCount()
    return await core.assistants.count(org, metadata=body.metadata, graph_id=body.graph_id, name=body.name)


@router.get("/{assistant_id}", summary="Get an assistant", dependencies=[READ])
@cache_for(seconds=60)
async def get(assistant_id: str, core: CoreDep, org: OrgDep) -> Response:
    return json_response(assistant_dict(await core.assistants.get(org, assistant_id)))


@router.patch("/{assistant_id}", summary="Update an assistant (adds a version)", dependencies=[WRITE])
async def patch(
    assistant_id: str, body: AssistantPatch, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    await administer(core, who, assistant_id)
    row = await core.assistants.update(
        org, assistant_id, graph_id=body.graph_id,
        config=body.config.model_dump(exclude_none=True) if body.config else None,
        context=body.context, metadata=body.metadata, name=body.name, description=body.description,
    )
    await invalidate(core.caches, org)
    return json_response(assistant_dict(row))


@router.delete("/{assistant_id}", status_code=204, summary="Delete an assistant", dependencies=[WRITE])
async def delete(
    assistant_id: str, core: CoreDep, org: OrgDep, who: PrincipalDep, delete_threads: bool = False
) -> Response:
    await administer(core, who, assistant_id)
    thread_ids = await core.assistants.delete(org, assistant_id, delete_threads=delete_threads)
    await invalidate(core.caches, org)
    for tid in thread_ids:
        await core.checkpoints.delete_thread(tid)
    return Response(status_code=204)


@router.post("/{assistant_id}/versions", summary="List an assistant's versions", dependencies=[READ])
@cache_for(seconds=60)
async def versions(assistant_id: str, core: CoreDep, org: OrgDep, body: VersionsSearch | None = None) -> Response:
    body = body or VersionsSearch()
    rows = await core.assistants.versions(org, assistant_id, metadata=body.metadata, limit=body.limit, offset=body.offset)
    return json_response([assistant_dict(r) for r in rows])


@router.post("/{assistant_id}/latest", summary="Make a version the latest", dependencies=[WRITE])
async def latest(
    assistant_id: str, core: CoreDep, org: OrgDep, who: PrincipalDep, body: SetLatest | None = None,
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
) -> Response:
    await administer(core, who, assistant_id)
    v = body.version if body is not None else version
    if v is None:
        raise InvalidInput("send the version as {\"version\": N} or ?version=N", field="version")
    row = await core.assistants.set_latest(org, assistant_id, v)
    await invalidate(core.caches, org)
    return json_response(assistant_dict(row))


async def _graph(core: Any, org: str, assistant_id: str) -> Any:
    row = await core.assistants.get(org, assistant_id)
    return row, await core.registry.build(
        row.graph_id, {"configurable": row.config.get("configurable", {})}, checkpointer=None, store=None
    )


@router.get("/{assistant_id}/graph", summary="The assistant's graph as nodes and edges", dependencies=[READ])
@cache_for(seconds=60)
async def graph(assistant_id: str, core: CoreDep, org: OrgDep, xray: bool | int = False) -> Response:
    _, g = await _graph(core, org, assistant_id)
    drawable = await g.aget_graph(xray=xray)
    return json_response(drawable.to_json(with_schemas=False))


@router.get("/{assistant_id}/schemas", summary="Input, output, state, config and context schemas", dependencies=[READ])
@cache_for(seconds=60)
async def schemas(assistant_id: str, core: CoreDep, org: OrgDep) -> Response:
    row, g = await _graph(core, org, assistant_id)
    return json_response(_schemas(row.graph_id, g))


def _schemas(graph_id: str, g: Any) -> dict[str, Any]:
    def safe(fn: Any) -> Any:
        try:
            return fn()
        except Exception:
            return None

    return {
        "graph_id": graph_id,
        "input_schema": safe(g.get_input_jsonschema),
        "output_schema": safe(g.get_output_jsonschema),
        "state_schema": safe(lambda: g.get_output_jsonschema()),
        "config_schema": safe(g.get_config_jsonschema),
        "context_schema": safe(g.get_context_jsonschema),
    }


@router.get("/{assistant_id}/subgraphs", summary="Schemas of the assistant's subgraphs", dependencies=[READ])
@router.get("/{assistant_id}/subgraphs/{namespace}", include_in_schema=False, dependencies=[READ])
@cache_for(seconds=60)
async def subgraphs(
    assistant_id: str, core: CoreDep, org: OrgDep, namespace: str | None = None, recurse: bool = False
) -> Response:
    row, g = await _graph(core, org, assistant_id)
    out = {}
    async for ns, sub in g.aget_subgraphs(namespace=namespace, recurse=recurse):
        out[ns] = _schemas(row.graph_id, sub)
    return json_response(out)


