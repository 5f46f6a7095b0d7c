"""``/knowledge``: ingest documents (multipart upload or JSON text), list / get / delete, search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field, ValidationError

from nexod.api.deps import READ, WRITE, CoreDep, OffsetQuery, OrgDep, json_response
from nexod.api.schemas import Body
from nexod.core import Core
from nexod.errors import InvalidInput, PayloadTooLarge, UnsupportedType
from nexod.knowledge.filters import parse as parse_filter
from nexod.knowledge.service import DEFAULT_NAMESPACE, ChunkConfig

router = APIRouter(prefix="/knowledge", tags=["knowledge"])

Namespace = Annotated[str, Field(min_length=1, max_length=200)]


class TextDocument(Body):
    """A document sent as JSON text."""

    text: str = Field(min_length=1, description="The document's content.")
    source: str = Field(min_length=1, max_length=1024, description="Its name, path or URL; "
                        "re-ingesting the same source replaces the document.")
    namespace: Namespace = DEFAULT_NAMESPACE
    content_type: Literal["text/plain", "text/markdown", "text/html"] = "text/plain"
    title: str | None = Field(None, max_length=1000)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Flat metadata for filters.")
    chunk_size: int | None = Field(None, ge=100, le=20000)
    chunk_overlap: int | None = Field(None, ge=0, le=5000)


class SearchRequest(Body):
    """A search over one namespace."""

    query: str = Field(min_length=1, max_length=10000)
    namespace: Namespace = DEFAULT_NAMESPACE
    k: int = Field(10, ge=1, le=100, description="How many hits.")
    mode: Literal["hybrid", "semantic", "keyword"] = "hybrid"
    filter: dict[str, Any] | None = Field(None, description="Pinecone's metadata filter language.")


UPLOAD_DOC = {
    "requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            "namespace": {"type": "string"}, "source": {"type": "string"}, "title": {"type": "string"},
            "metadata": {"type": "string", "description": "a JSON object"},
            "chunk_size": {"type": "integer"}, "chunk_overlap": {"type": "integer"}}}},
        "application/json": {"schema": TextDocument.model_json_schema()},
    }, "required": True},
}


def _chunking(core: Core, size: int | None, overlap: int | None) -> ChunkConfig | None:
    if size is None and overlap is None:
        return None
    base = core.knowledge.chunking
    return ChunkConfig(size if size is not None else base.size, overlap if overlap is not None else base.overlap)


def _int_field(form: Any, name: str) -> int | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, got {raw!r}", field=name) from None


async def _from_form(request: Request, core: Core, org: str) -> tuple[dict[str, Any], bool]:
    limit = core.knowledge.max_bytes
    async with request.form(max_files=1, max_fields=20) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart body needs a 'file' part", field="file")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"file is over the limit of {limit} bytes (NEXOD_KB_MAX_UPLOAD_MB)", field="file")
        meta_raw = form.get("metadata")
        try:
            metadata = orjson.loads(str(meta_raw)) if meta_raw not in (None, "") else {}
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"metadata must be a JSON object: {exc}", field="metadata") from exc
        if not isinstance(metadata, dict):
            raise InvalidInput("metadata must be a JSON object", field="metadata")
        filename = upload.filename or None
        source = str(form.get("source") or filename or "")
        if not source:
            raise InvalidInput("name the document: send a file name or a 'source' field", field="source")
        return await core.knowledge.ingest(
            org, data, source=source, namespace=str(form.get("namespace") or DEFAULT_NAMESPACE),
            filename=filename, content_type=upload.content_type, title=str(form.get("title") or "") or None,
            metadata=metadata,
            chunking=_chunking(core, _int_field(form, "chunk_size"), _int_field(form, "chunk_overlap")))


@router.post("/documents", status_code=201, summary="Ingest a document", openapi_extra=UPLOAD_DOC,
             responses={200: {"description": "Unchanged: already indexed with the same content"}},
             dependencies=[WRITE])
async def ingest(request: Request, core: CoreDep, org: OrgDep) -> Response:
    """Multipart (a ``file`` part plus optional fields) or JSON text; replaces the same source."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        doc, changed = await _from_form(request, core, org)
    elif media == "application/json":
        raw = await request.body()
        if len(raw) > core.knowledge.max_bytes * 2:
            raise PayloadTooLarge("body is over the document size limit", field="text")
        try:
            body = TextDocument.model_validate_json(raw)
        except ValidationError as exc:
            from fastapi.exceptions import RequestValidationError

            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from exc
        doc, changed = await core.knowledge.ingest(
            org, body.text.encode(), source=body.source, namespace=body.namespace,
            content_type=body.content_type, title=body.title, metadata=body.metadata,
            chunking=_chunking(core, body.chunk_size, body.chunk_overlap))
    else:
        raise UnsupportedType(f"send multipart/form-data (a file) or application/json (text), not "
                              f"{media or 'no content type'!r}", field="content-type")
    return json_response(doc, status_code=201 if changed else 200)


@router.get("/documents", summary="List documents", dependencies=[READ])
async def list_documents(core: CoreDep, org: OrgDep, namespace: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                         offset: OffsetQuery = 0) -> Response:
    """Newest first; ``namespace`` narrows to one namespace."""
    return json_response(await core.knowledge.list_documents(org, namespace=namespace, limit=limit,
                                                              offset=offset))


DocId = Annotated[str, Path(min_length=1, max_length=36)]


@router.get("/documents/{document_id}", summary="Get a document and its ingest status",
            dependencies=[READ])
async def get_document(document_id: DocId, core: CoreDep, org: OrgDep) -> Response:
    """Status is ``pending``, ``indexed`` or ``failed`` (with ``error``)."""
    return json_response(await core.knowledge.get_document(org, document_id))


@router.delete("/documents/{document_id}", status_code=204, summary="Delete a document",
               dependencies=[WRITE])
async def delete_document(document_id: DocId, core: CoreDep, org: OrgDep) -> Response:
    """Removes the document, its chunks and their vectors."""
    await core.knowledge.delete_document(org, document_id)
    return Response(status_code=204)


@router.post("/search", summary="Search the knowledge base", dependencies=[READ])
async def search(body: SearchRequest, core: CoreDep, org: OrgDep) -> Response:
    """Hybrid (RRF of semantic and keyword), semantic or keyword; each hit carries its citation."""
    flt = parse_filter(body.filter)
    hits = await core.knowledge.search(org, body.query, namespace=body.namespace, k=body.k,
                                       mode=body.mode, filter=flt)
    return json_response({"hits": [h.as_dict() for h in hits]})
