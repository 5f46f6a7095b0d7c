"""Offset paging shared by the search endpoints."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def fetch_page(
    s: AsyncSession, query: Select[T], *, sort: Any, tiebreak: Any, descending: bool,
    limit: int, offset: int,
) -> tuple[list[T], int | None]:
    """One page of ``query`` and the next offset (None on the last page).

    One extra row is fetched to learn whether another page exists, without a count query.
    """
    order = sort.desc() if descending else sort.asc()
    rows = list((await s.scalars(query.order_by(order, tiebreak).limit(limit + 1).offset(offset))).all())
    return rows[:limit], (offset + limit if len(rows) > limit else None)


async def count_rows(s: AsyncSession, model: Any, conds: list[Any]) -> int:
    """How many rows of ``model`` match ``conds``."""
    return int(await s.scalar(select(func.count()).select_from(model).where(*conds)) or 0)
