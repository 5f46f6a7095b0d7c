"""JSON encoding of graph output (messages, interrupts, pydantic models…) and small helpers."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Attach UTC to naive datetimes (SQLite returns them naive)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    """A new time-ordered identifier (UUIDv7) as a string."""
    from uuid_utils.compat import uuid7

    return str(uuid7())


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):  # LangChain Serializable objects that are not pydantic models
        return to_json()
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return repr(obj)


_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(obj: Any) -> bytes:
    """Serialise anything a graph may emit to JSON bytes."""
    try:
        return orjson.dumps(obj, default=_default, option=_OPTS)
    except TypeError:
        # orjson refuses integers beyond 64 bits; the standard library does not.
        return json.dumps(obj, default=_default, separators=(",", ":")).encode()


def to_jsonable(obj: Any) -> Any:
    """Turn graph output into plain JSON types (for storing in JSON columns)."""
    return orjson.loads(dumps(obj))


def loads(data: bytes | str) -> Any:
    """Parse JSON."""
    return orjson.loads(data)
