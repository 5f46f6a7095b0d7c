"""Pinecone's metadata filter language, validated once and evaluated the same way everywhere.

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``; several keys in one object
mean AND; ``{"k": v}`` is short for ``{"k": {"$eq": v}}``. Metadata values are strings,
numbers, booleans or lists of strings. The meaning, on every backend (the local store
evaluates it here; pgvector and the keyword leg compile it to SQL in :mod:`.sqlfilter`;
Pinecone gets it as is):

* on a list value, ``$eq``/``$in`` match when any element matches; ``$ne``/``$nin`` match when
  no element does;
* a missing key matches ``$ne``, ``$nin`` and ``$exists: false`` only;
* ``$gt $gte $lt $lte`` compare numbers only (the argument must be a number; a non-numeric value
  never matches).

:func:`parse` raises :class:`~nexod.errors.InvalidInput` saying what is wrong, so a bad filter
is a 422 before anything is searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nexod.errors import InvalidInput

Scalar = str | int | float | bool
CompareOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"]
COMPARE_OPS: tuple[CompareOp, ...] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
MAX_LIST = 10_000  # Pinecone's limit per $in / $nin
MAX_DEPTH = 16


@dataclass(frozen=True)
class Cond:
    """``field op arg``: one comparison."""

    field: str
    op: CompareOp
    arg: Any


@dataclass(frozen=True)
class And:
    """Every clause matches."""

    clauses: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one clause matches."""

    clauses: tuple[Node, ...]


Node = Cond | And | Or


@dataclass(frozen=True)
class Filter:
    """A validated filter: ``raw`` for Pinecone, ``root`` for everything else."""

    raw: dict[str, Any]
    root: Node

    def matches(self, metadata: dict[str, Any]) -> bool:
        """True when ``metadata`` satisfies the filter."""
        return _eval(self.root, metadata)


def _bad(path: str, why: str) -> InvalidInput:
    return InvalidInput(f"filter{path}: {why}", field="filter")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _scalar(v: Any, path: str) -> Scalar:
    if isinstance(v, bool | str | int | float):
        return v
    raise _bad(path, f"expected a string, number or boolean, got {type(v).__name__}")


def _cond(field: str, op: str, arg: Any, path: str) -> Cond:
    if op not in COMPARE_OPS:
        raise _bad(path, f"unknown operator {op!r}; use one of {', '.join(COMPARE_OPS)}, $and, $or")
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_num(arg):
            raise _bad(path, f"{op} compares numbers; got {arg!r}")
    elif op in ("$in", "$nin"):
        if not isinstance(arg, list) or not arg:
            raise _bad(path, f"{op} takes a non-empty list of strings or numbers")
        if len(arg) > MAX_LIST:
            raise _bad(path, f"{op} takes at most {MAX_LIST} values")
        for i, v in enumerate(arg):
            if not (isinstance(v, str) or _is_num(v)):
                raise _bad(f"{path}[{i}]", f"{op} values must be strings or numbers, got {v!r}")
    elif op == "$exists":
        if not isinstance(arg, bool):
            raise _bad(path, "$exists takes true or false")
    else:
        _scalar(arg, path)
    return Cond(field, op, arg)


def _parse(obj: Any, path: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise _bad(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(obj, dict):
        raise _bad(path, f"expected an object, got {type(obj).__name__}")
    clauses: list[Node] = []
    for key, value in obj.items():
        at = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(at, f"{key} takes a non-empty list of filter objects")
            parts = tuple(_parse(v, f"{at}[{i}]", depth + 1) for i, v in enumerate(value))
            clauses.append(And(parts) if key == "$and" else Or(parts))
        elif key.startswith("$"):
            raise _bad(at, f"{key} cannot stand at this level; write {{\"field\": {{\"{key}\": …}}}}")
        elif not key:
            raise _bad(at, "field names cannot be empty")
        elif isinstance(value, dict):
            if not value:
                raise _bad(at, "empty condition")
            for op, arg in value.items():
                clauses.append(_cond(key, op, arg, f"{at}.{op}"))
        else:
            clauses.append(_cond(key, "$eq", value, at))
    if not clauses:
        raise _bad(path, "empty filter object")
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def parse(raw: dict[str, Any] | None) -> Filter | None:
    """Validate ``raw``; ``None`` or ``{}`` means no filter."""
    if raw is None or raw == {}:
        return None
    return Filter(raw=raw, root=_parse(raw, "", 0))


def _eq(value: Any, arg: Any) -> bool:
    if isinstance(value, list):
        return any(_eq(v, arg) for v in value)
    if isinstance(arg, bool) or isinstance(value, bool):
        return type(arg) is type(value) and bool(value == arg)
    if _is_num(arg):
        return _is_num(value) and bool(float(value) == float(arg))
    return bool(value == arg)


def _compare(value: Any, op: str, arg: float) -> bool:
    if not _is_num(value):
        return False
    v = float(value)
    return {"$gt": v > arg, "$gte": v >= arg, "$lt": v < arg, "$lte": v <= arg}[op]


def _eval(node: Node, md: dict[str, Any]) -> bool:
    if isinstance(node, And):
        return all(_eval(c, md) for c in node.clauses)
    if isinstance(node, Or):
        return any(_eval(c, md) for c in node.clauses)
    present = node.field in md
    value = md.get(node.field)
    match node.op:
        case "$exists":
            return present is node.arg
        case "$eq":
            return present and _eq(value, node.arg)
        case "$ne":
            return not (present and _eq(value, node.arg))
        case "$in":
            return present and any(_eq(value, a) for a in node.arg)
        case "$nin":
            return not (present and any(_eq(value, a) for a in node.arg))
        case _:
            return present and _compare(value, node.op, float(node.arg))


def check_metadata(md: dict[str, Any], where: str = "metadata") -> dict[str, Any]:
    """Metadata must be flat: strings, numbers, booleans or lists of strings (Pinecone's rule)."""
    if not isinstance(md, dict):
        raise InvalidInput(f"{where}: expected an object", field=where)
    for key, value in md.items():
        if not isinstance(key, str) or not key or key.startswith("$"):
            raise InvalidInput(f"{where}: key {key!r} must be a non-empty string not starting with $", field=where)
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"{where}.{key}: lists may hold strings only", field=where)
        elif value is None or not (isinstance(value, bool | str) or _is_num(value)):
            raise InvalidInput(
                f"{where}.{key}: values must be strings, numbers, booleans or lists of strings "
                f"(no null, no nested objects), got {value!r}", field=where)
    return md
