"""Request bodies of the LangGraph Server surface.

Every model forbids unknown fields: a field we do not support is a 422 that names it, never
silently dropped. Every body is also checked for JSON that would validate here but break later
(a 500 on PostgreSQL, or a stored value no response can encode): NUL characters, lone
surrogates, NaN/Infinity, numbers beyond 64-bit integers and absurd nesting are refused up front.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

StreamMode = Literal[
    "values", "messages", "messages-tuple", "updates", "events", "debug", "custom", "checkpoints", "tasks"
]
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
SortOrder = Literal["asc", "desc"]
AssistantField = Literal[
    "assistant_id", "graph_id", "name", "description", "config", "context", "created_at", "updated_at",
    "metadata", "version",
]
ThreadField = Literal[
    "thread_id", "created_at", "updated_at", "state_updated_at", "metadata", "config", "context", "status",
    "values", "interrupts",
]
RunField = Literal[
    "run_id", "thread_id", "assistant_id", "created_at", "updated_at", "status", "metadata", "kwargs",
    "multitask_strategy", "cancel_reason",
]

# Bounds that keep numbers inside what SQLite, PostgreSQL and datetime arithmetic accept.
MAX_OFFSET = 2**31 - 1
MAX_VERSION = 2**31 - 1
MAX_DELAY_SECONDS = 366 * 24 * 3600 * 100  # a hundred years
MAX_TTL_MINUTES = 366 * 24 * 60 * 100
# orjson encodes every response: it refuses integers outside this range and nesting past 255.
# Floats get the same bound: JSONB stores 1e20 as a numeric and returns it as the integer 10**20.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
MAX_JSON_DEPTH = 128
# Keys the SQLite checkpointer accepts in a history metadata filter (it builds a JSON path).
_FILTER_KEY = re.compile(r"^[a-zA-Z0-9_.-]+$")

Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Field(ge=1, le=1000)]


def _bad_string(s: str) -> str | None:
    if "\x00" in s:
        return "strings may not contain NUL (\\u0000) characters"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "strings may not contain unpaired surrogates (invalid UTF-16 escapes)"
    return None


def json_problem(value: Any) -> tuple[str, str] | None:
    """The first value in a parsed JSON document that Nexod cannot store or send back.

    Returns ``(path, reason)`` or None. Iterative, so deep documents cannot overflow the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        cur, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path[:80] + "…", f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(cur, str):
            reason = _bad_string(cur)
            if reason:
                return path, reason
        elif isinstance(cur, bool) or cur is None:
            continue
        elif isinstance(cur, int):
            if not JSON_INT_MIN <= cur <= JSON_INT_MAX:
                return path, "integers must fit in 64 bits (send larger ones as strings)"
        elif isinstance(cur, float):
            if not math.isfinite(cur):
                return path, "NaN and Infinity are not valid JSON numbers"
            if not JSON_INT_MIN <= cur <= JSON_INT_MAX:
                # PostgreSQL's JSONB would hand such a float back as an integer too large to encode.
                return path, "numbers beyond the 64-bit integer range cannot be stored exactly (send them as strings)"
        elif isinstance(cur, dict):
            for k, v in cur.items():
                key = str(k)
                sub = f"{path}.{key}" if path else key
                reason = _bad_string(key)
                if reason:
                    return sub, f"object keys: {reason}"
                stack.append((v, sub, depth + 1))
        elif isinstance(cur, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(cur))
    return None


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"must be a UUID, got {value!r}") from None


# A UUID string, normalised to the canonical lower-case form.
UUIDStr = Annotated[str, AfterValidator(_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]


def _label(value: str) -> str:
    if not value:
        raise ValueError("namespace labels may not be empty")
    if "." in value:
        raise ValueError(f"namespace labels may not contain '.', got {value!r}")
    return value


NamespaceLabel = Annotated[str, AfterValidator(_label)]


class Body(BaseModel):
    """Base for request bodies: unknown fields and unstorable JSON values are rejected."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_json(cls, data: Any) -> Any:
        found = json_problem(data)
        if found is not None:
            path, reason = found
            # ``path`` is appended to the error location by nexod.api.errors.
            raise PydanticCustomError("unstorable_json", reason, {"path": path})
        return data


class Config(Body):
    """A LangGraph RunnableConfig as sent over the wire (the JSON-serialisable keys)."""

    tags: list[str] | None = None
    recursion_limit: int | None = Field(None, ge=1)
    configurable: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    run_name: str | None = None
    max_concurrency: int | None = Field(None, ge=1)


class AssistantCreate(Body):
    graph_id: str = Field(min_length=1)
    assistant_id: UUIDStr | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = Field(None, max_length=255)
    description: str | None = None


class AssistantPatch(Body):
    graph_id: str | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(None, max_length=255)
    description: str | None = None


class AssistantSearch(Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[AssistantField] | None = None


class AssistantCount(Body):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


class VersionsSearch(Body):
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0


class SetLatest(Body):
    version: int = Field(ge=1, le=MAX_VERSION)


class ThreadCreate(Body):
    thread_id: UUIDStr | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    graph_id: str | None = None
    supersteps: list[dict[str, Any]] | None = None
    ttl: dict[str, Any] | int | None = None


class ThreadPatch(Body):
    metadata: dict[str, Any] | None = None
    ttl: dict[str, Any] | int | None = None


class ThreadSearch(Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[UUIDStr] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: Literal["thread_id", "status", "created_at", "updated_at", "state_updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[ThreadField] | None = None
    extract: dict[str, str] | None = None


class ThreadCount(Body):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None


class CheckpointRef(Body):
    """A ``Checkpoint`` reference, as found in every ThreadState the server returns."""

    thread_id: UUIDStr | None = None
    checkpoint_ns: str | None = ""
    checkpoint_id: UUIDStr | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateCheckpointRequest(Body):
    checkpoint: CheckpointRef
    subgraphs: bool = False


class StateUpdate(Body):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: UUIDStr | None = None


class HistoryRequest(Body):
    limit: Limit = 10
    before: UUIDStr | CheckpointRef | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None

    @field_validator("metadata")
    @classmethod
    def _filter_keys(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in v or {}:
            if not _FILTER_KEY.match(key):
                raise ValueError(
                    f"filter key {key!r} may only contain letters, digits, '_', '.' and '-'"
                )
        return v


class CommandBody(Body):
    resume: Any = None
    update: dict[str, Any] | list[Any] | None = None
    goto: Any = None


class RunCreate(Body):
    """A run on a thread (``/threads/{id}/runs``, ``/stream``, ``/wait``)."""

    assistant_id: str = Field(min_length=1)
    input: Any = None
    command: CommandBody | None = None
    config: Config | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    feedback_keys: list[str] | None = None
    webhook: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: UUIDStr | None = None
    checkpoint_during: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    after_seconds: float | None = Field(None, ge=0, le=MAX_DELAY_SECONDS, allow_inf_nan=False)
    langsmith_tracer: dict[str, Any] | None = None

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith(("http://", "https://", "/"))):
            raise ValueError("webhook must be an http(s) URL or a path starting with /")
        return v

    def start_checkpoint_id(self) -> str | None:
        """The checkpoint the run asks to start from (``checkpoint_id`` or ``checkpoint``)."""
        if self.checkpoint_id:
            return self.checkpoint_id
        return self.checkpoint.checkpoint_id if self.checkpoint else None

    def payload(self) -> dict[str, Any]:
        """The run's stored kwargs (JSON-ready, stream_mode as a list)."""
        data = self.model_dump(mode="json", exclude_none=True)
        if isinstance(self.stream_mode, str):
            data["stream_mode"] = [self.stream_mode]
        if self.interrupt_before is not None:
            data["interrupt_before"] = self.interrupt_before
        if self.interrupt_after is not None:
            data["interrupt_after"] = self.interrupt_after
        return data


class RunCreateStateless(RunCreate):
    """A run without a thread (``/runs``, ``/runs/stream``, ``/runs/wait``, ``/runs/batch``)."""

    on_completion: Literal["delete", "keep"] = "delete"


class CancelMany(Body):
    thread_id: UUIDStr | None = None
    run_ids: list[UUIDStr] | None = None
    status: Literal["pending", "running", "all"] | None = None


class StorePut(Body):
    namespace: list[NamespaceLabel] = Field(min_length=1)
    key: str = Field(min_length=1, max_length=512)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: float | None = Field(None, gt=0, le=MAX_TTL_MINUTES, allow_inf_nan=False)

    @field_validator("namespace")
    @classmethod
    def _root(cls, v: list[str]) -> list[str]:
        if v and v[0] == "langgraph":
            raise ValueError("the root label 'langgraph' is reserved")
        return v

    @field_validator("index")
    @classmethod
    def _fields(cls, v: Literal[False] | list[str] | None) -> Literal[False] | list[str] | None:
        if isinstance(v, list) and (not v or not all(f.strip() for f in v)):
            raise ValueError("index must be false, or a non-empty list of JSON paths such as \"$\" or \"text\"")
        return v


class StoreDelete(Body):
    namespace: list[NamespaceLabel]
    key: str = Field(min_length=1, max_length=512)


class StoreSearch(Body):
    namespace_prefix: list[NamespaceLabel] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = Field(None, min_length=1, max_length=10000)
    refresh_ttl: bool | None = None


class NamespaceList(Body):
    prefix: list[NamespaceLabel] | None = None
    suffix: list[NamespaceLabel] | None = None
    max_depth: int | None = Field(None, ge=1)
    limit: Limit = 100
    offset: Offset = 0
