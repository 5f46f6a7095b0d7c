"""Compile a :class:`~nexod.knowledge.filters.Filter` to SQL over a JSON metadata column.

PostgreSQL uses JSONB containment (``@>``, served by a GIN index) and ``?``; SQLite uses
``json_type`` / ``json_extract`` / ``json_each``. The meaning is the one written in
:mod:`nexod.knowledge.filters`, and the conformance suite checks both against it.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from nexod.knowledge.filters import And, Cond, Filter, Node, Or, _is_num


def _pg_contains(col: Any, obj: object) -> ColumnElement[bool]:
    expr: ColumnElement[bool] = col.op("@>")(cast(literal(orjson.dumps(obj).decode()), JSONB))
    return expr


def _pg_eq(col: Any, field: str, arg: Any) -> ColumnElement[bool]:
    if isinstance(arg, str):  # lists hold strings: match an element too
        return or_(_pg_contains(col, {field: arg}), _pg_contains(col, {field: [arg]}))
    return _pg_contains(col, {field: arg})


def _pg_range(col: Any, field: str, op: str, arg: float) -> ColumnElement[bool]:
    value = cast(col.op("->>")(literal(field)), Float)
    cmp = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
    # CASE, not AND: PostgreSQL may evaluate AND operands in any order, and the cast fails on text.
    expr: ColumnElement[bool] = case(
        (func.jsonb_typeof(col.op("->")(literal(field))) == "number", cmp), else_=false()
    )
    return expr


def _sqlite_path(field: str) -> str:
    return '$."' + field.replace('"', '""') + '"'


def _sqlite_eq(col: Any, field: str, arg: Any) -> ColumnElement[bool]:
    path = _sqlite_path(field)
    kind = func.json_type(col, path)
    if isinstance(arg, bool):
        return kind == ("true" if arg else "false")
    if _is_num(arg):
        return and_(kind.in_(("integer", "real")), func.json_extract(col, path) == arg)
    each = func.json_each(col, path).table_valued("type", "value")
    in_list = exists(select(literal(1)).select_from(each).where(each.c.type == "text", each.c.value == arg))
    return or_(and_(kind == "text", func.json_extract(col, path) == arg), and_(kind == "array", in_list))


def _sqlite_range(col: Any, field: str, op: str, arg: float) -> ColumnElement[bool]:
    path = _sqlite_path(field)
    value = func.json_extract(col, path)
    cmp = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
    return and_(func.json_type(col, path).in_(("integer", "real")), cmp)


def _compile(node: Node, col: Any, pg: bool) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(c, col, pg) for c in node.clauses))
    if isinstance(node, Or):
        return or_(*(_compile(c, col, pg) for c in node.clauses))
    assert isinstance(node, Cond)
    eq = _pg_eq if pg else _sqlite_eq
    f = node.field
    if pg:
        present: ColumnElement[bool] = col.op("?")(literal(f))
    else:
        present = func.json_type(col, _sqlite_path(f)).is_not(None)
    match node.op:
        case "$exists":
            return present if node.arg else not_(present)
        case "$eq":
            return eq(col, f, node.arg)
        case "$ne":
            return or_(not_(present), not_(eq(col, f, node.arg)))
        case "$in":
            return or_(*(eq(col, f, a) for a in node.arg))
        case "$nin":
            return or_(not_(present), not_(or_(*(eq(col, f, a) for a in node.arg))))
        case _:
            rng = _pg_range if pg else _sqlite_range
            return rng(col, f, node.op, float(node.arg))


def to_sql(flt: Filter | None, column: Any, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause that is true where ``column`` (JSON metadata) satisfies ``flt``."""
    if flt is None:
        return true()
    return _compile(flt.root, column, dialect == "postgresql")
