"""Map Nexod errors and validation failures to HTTP responses: ``{"detail": "..."}``.

A 422 always names the offending field in ``detail`` (``"config.tags: Input should be a valid
list"``), and lists every problem under ``errors``. Anything unexpected is still a JSON body
``{"detail": ...}`` (status 500), so clients never have to parse plain text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langgraph.store.base import InvalidNamespaceError
from pydantic import BaseModel
from sqlalchemy.exc import DataError

from nexod.api import schemas
from nexod.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NexodError,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)

log = logging.getLogger("nexod.api")

# Subclasses before their parents: the first match wins.
STATUS: dict[type[NexodError], int] = {
    NotFound: 404, Conflict: 409, PayloadTooLarge: 413, UnsupportedType: 415, InvalidInput: 422,
    Unavailable: 503, Unauthenticated: 401, Forbidden: 403,
}

# SQLSTATE class 22 errors: SQLAlchemy wraps them for our tables; the PostgreSQL checkpointer
# lets psycopg's own class through.
DATA_ERRORS: tuple[type[Exception], ...] = (DataError,)
try:
    import psycopg

    DATA_ERRORS += (psycopg.DataError,)
except ImportError:  # pragma: no cover - SQLite-only install
    pass

# Where a value came from, when it is not the JSON body.
_PARAM_KINDS = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie"}
# Pydantic puts the name of each union member it tried into ``loc``; those are not field names.
_SCALAR_TAGS = {"str", "int", "float", "bool", "bytes", "none", "dict", "list", "any"}
_MODEL_TAGS = {
    name for name, obj in vars(schemas).items()
    if isinstance(obj, type) and issubclass(obj, BaseModel)
}


def _is_type_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in _SCALAR_TAGS or part in _MODEL_TAGS)


def field_path(error: dict[str, Any]) -> str:
    """The dotted name of the field an error is about (``config.tags[0]``, ``body``, …)."""
    loc = list(error.get("loc", ()))
    prefix = ""
    if loc and loc[0] in _PARAM_KINDS:
        prefix = f"{_PARAM_KINDS[loc[0]]} "
        loc = loc[1:]
    elif loc and loc[0] == "body":
        loc = loc[1:]
    if error.get("type") == "json_invalid":
        return "body"  # loc holds the character offset, not a field
    path = ""
    for part in loc:
        if _is_type_tag(part):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    inner = (error.get("ctx") or {}).get("path") if isinstance(error.get("ctx"), dict) else None
    if inner:  # set by schemas.Body: where inside the value the unstorable JSON is
        path += inner if inner.startswith("[") or not path else f".{inner}"
    return prefix + (path or "body")


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unsupported field (not part of this endpoint's request body)"
    if kind == "json_invalid":
        ctx = error.get("ctx") or {}
        where = error.get("loc", ())[-1:]
        at = f" at character {where[0]}" if where and isinstance(where[0], int) else ""
        return f"invalid JSON{at} ({ctx.get('error', 'cannot parse')})"
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def describe(errors: list[Any]) -> str:
    """One line naming each offending field; union alternatives are merged with "or"."""
    by_field: dict[str, list[str]] = {}
    for e in errors:
        msgs = by_field.setdefault(field_path(e), [])
        msg = _message(e)
        if msg not in msgs:
            msgs.append(msg)
    return "; ".join(f"{name}: {' or '.join(msgs)}" for name, msgs in by_field.items())


def _jsonable_loc(error: dict[str, Any]) -> list[Any]:
    loc = list(error.get("loc", ()))
    ctx = error.get("ctx")
    if isinstance(ctx, dict) and ctx.get("path"):
        loc.append(ctx["path"])
    return loc


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(NexodError)
    async def _nexod(_: Request, exc: NexodError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        body: dict[str, Any] = {"detail": exc.message}
        if isinstance(exc, InvalidInput) and exc.field:
            body["field"] = exc.field
            if exc.field not in exc.message:  # the detail always names the field
                body["detail"] = f"{exc.field}: {exc.message}"
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"detail": describe(errors),
             "errors": [{"loc": _jsonable_loc(e), "msg": _message(e), "type": e.get("type")}
                        for e in errors]},
            status_code=422,
        )

    @app.exception_handler(InvalidNamespaceError)
    async def _namespace(_: Request, exc: InvalidNamespaceError) -> JSONResponse:
        # The LangGraph store validates labels itself; the API checks them first, this is a backstop.
        return JSONResponse({"detail": f"namespace: {exc}", "field": "namespace"}, status_code=422)

    async def _data(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value taken from the request. Validation should have caught
        # it first; log it so the gap gets closed.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warning("database refused a request value", extra={"path": request.url.path, "reason": reason})
        return JSONResponse({"detail": f"the database refused a value in this request: {reason}"},
                            status_code=422)

    for cls in DATA_ERRORS:
        app.add_exception_handler(cls, _data)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises the exception after sending this, so it is logged in full.
        return JSONResponse({"detail": f"internal server error ({type(exc).__name__})"}, status_code=500)
