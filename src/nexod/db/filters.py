"""Portable JSON filters: "this JSON column contains these key/value pairs"."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, cast, func, literal, true
from sqlalchemy.dialects.postgresql import JSONB


def json_contains(column: Any, wanted: dict[str, Any] | None, dialect: str) -> ColumnElement[bool]:
    """SQL that is true when ``column`` (a JSON object) holds every pair in ``wanted``.

    PostgreSQL uses JSONB ``@>``; SQLite compares ``json_extract`` of each top-level key.
    """
    if not wanted:
        return true()
    if dialect == "postgresql":
        contains: ColumnElement[bool] = column.op("@>")(cast(literal(orjson.dumps(wanted).decode()), JSONB))
        return contains
    clauses = []
    for key, value in wanted.items():
        path = '$."' + key.replace('"', '""') + '"'
        if isinstance(value, (dict, list)):
            clauses.append(
                func.json(func.json_extract(column, path))
                == func.json(literal(orjson.dumps(value).decode()))
            )
        elif value is None:
            clauses.append(func.json_type(column, path) == "null")
        elif isinstance(value, bool):
            clauses.append(func.json_type(column, path) == ("true" if value else "false"))
        else:
            clauses.append(func.json_extract(column, path) == value)
    return and_(*clauses)
