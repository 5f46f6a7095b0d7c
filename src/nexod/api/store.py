"""``/store``: the LangGraph long-term memory endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from nexod.api.deps import READ, WRITE, CoreDep, OrgDep, json_response
from nexod.api.schemas import NamespaceList, StoreDelete, StorePut, StoreSearch, json_problem
from nexod.errors import InvalidInput, NotFound
from nexod.store.sql import encode_namespace

router = APIRouter(prefix="/store", tags=["store"])


def _item(item: object) -> dict[str, object]:
    d = item.dict()  # type: ignore[attr-defined]
    return {k: v for k, v in d.items() if k != "score" or v is not None}


@router.put("/items", status_code=204, summary="Put an item", dependencies=[WRITE])
async def put_item(body: StorePut, core: CoreDep, org: OrgDep) -> Response:
    ns = tuple(body.namespace)
    encode_namespace(ns)
    if isinstance(body.index, list) and core.stores.index is None:
        raise InvalidInput("semantic indexing is not configured on this server (add store.index to "
                           "langgraph.json); send false or omit it", field="index")
    await core.stores.for_org(org).aput(ns, body.key, body.value, index=body.index, ttl=body.ttl)
    return Response(status_code=204)


@router.get("/items", summary="Get an item", dependencies=[READ])
async def get_item(
    core: CoreDep, org: OrgDep, key: str = Query(min_length=1, max_length=512), namespace: str | None = None,
    refresh_ttl: bool | None = None,
) -> Response:
    ns = tuple(namespace.split(".")) if namespace else ()
    if any(not label for label in ns):
        raise InvalidInput(f"namespace has an empty label: {namespace!r}", field="namespace")
    for name, value in (("namespace", namespace or ""), ("key", key)):
        problem = json_problem(value)
        if problem:
            raise InvalidInput(f"{name}: {problem[1]}", field=name)
    item = await core.stores.for_org(org).aget(ns, key, refresh_ttl=refresh_ttl)
    if item is None:
        raise NotFound("item", f"{namespace}/{key}")
    return json_response(_item(item))


@router.delete("/items", status_code=204, summary="Delete an item", dependencies=[WRITE])
async def delete_item(body: StoreDelete, core: CoreDep, org: OrgDep) -> Response:
    await core.stores.for_org(org).adelete(tuple(body.namespace), body.key)
    return Response(status_code=204)


@router.post("/items/search", summary="Search items under a namespace prefix", dependencies=[READ])
async def search_items(body: StoreSearch, core: CoreDep, org: OrgDep) -> Response:
    """Filter and page; with ``query`` (and ``store.index`` configured), ranked by meaning."""
    if body.query is not None and core.stores.index is None:
        raise InvalidInput("semantic search is not configured on this server (add store.index to "
                           "langgraph.json); use filter instead", field="query")
    items = await core.stores.for_org(org).asearch(
        tuple(body.namespace_prefix), query=body.query, filter=body.filter, limit=body.limit,
        offset=body.offset, refresh_ttl=body.refresh_ttl,
    )
    return json_response({"items": [_item(i) for i in items]})


@router.post("/namespaces", summary="List namespaces", dependencies=[READ])
async def list_namespaces(core: CoreDep, org: OrgDep, body: NamespaceList | None = None) -> Response:
    body = body or NamespaceList()
    namespaces = await core.stores.for_org(org).alist_namespaces(
        prefix=tuple(body.prefix) if body.prefix else None,
        suffix=tuple(body.suffix) if body.suffix else None,
        max_depth=body.max_depth, limit=body.limit, offset=body.offset,
    )
    return json_response({"namespaces": [list(n) for n in namespaces]})
