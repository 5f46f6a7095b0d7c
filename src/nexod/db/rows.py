"""Core-level helpers for hot paths: the ORM unit of work costs more than the SQL there.

Rows read with Core are turned into (detached) model objects, so callers still get typed
attributes; values for inserts are taken from such objects.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Row, inspect

from nexod.db.models import Base

M = TypeVar("M", bound=Base)


@cache
def _keys(model: type[Base]) -> tuple[tuple[str, str], ...]:
    """(column name, attribute name) pairs of a model."""
    return tuple((prop.columns[0].name, prop.key) for prop in inspect(model).column_attrs)


def to_model(model: type[M], row: Row[Any]) -> M:
    """A detached ``model`` object from a Core row of ``select(model)``."""
    mapping = row._mapping
    return model(**{attr: mapping[column] for column, attr in _keys(model)})


def values_of(obj: Base) -> dict[str, Any]:
    """Attribute values of a model object, for ``insert(Model).values(...)``."""
    return {attr: obj.__dict__.get(attr) for _, attr in _keys(type(obj)) if attr in obj.__dict__}
