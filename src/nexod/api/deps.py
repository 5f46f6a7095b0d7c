"""Request-scoped dependencies and response helpers shared by the routers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from nexod.core import Core
from nexod.errors import InvalidInput
from nexod.serde import dumps
from nexod.settings import LOCAL_ORG


def get_core(request: Request) -> Core:
    """The process-wide :class:`Core`."""
    core: Core = request.app.state.core
    return core


def get_org(request: Request) -> str:
    """The caller's organisation. Embedded mode has one local organisation."""
    return LOCAL_ORG


CoreDep = Annotated[Core, Depends(get_core)]
OrgDep = Annotated[str, Depends(get_org)]


def _uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"{name} must be a UUID, got {value!r}", field=name) from None


def thread_id_param(thread_id: Annotated[str, Path(description="Thread UUID")]) -> str:
    """A validated thread id path parameter."""
    return _uuid(thread_id, "thread_id")


def run_id_param(run_id: Annotated[str, Path(description="Run UUID")]) -> str:
    """A validated run id path parameter."""
    return _uuid(run_id, "run_id")


ThreadId = Annotated[str, Depends(thread_id_param)]
RunId = Annotated[str, Depends(run_id_param)]


def json_response(obj: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded with orjson (handles messages, datetimes, models)."""
    return Response(dumps(obj), status_code=status_code, media_type="application/json", headers=headers)


def select_fields(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Keep only the requested fields (the ``select`` option of search endpoints)."""
    if not select:
        return obj
    return {k: v for k, v in obj.items() if k in select}
