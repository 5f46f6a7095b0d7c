"""Organisation budgets in Nexod's database (SQLite or PostgreSQL), tables ``org_usage`` and
``org_budgets`` (migration ``0007_org_budgets``)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.budgets.base import Limits, OrgBudgets, Spend, period_of
from nexod.db.models import OrgBudget, OrgUsage
from nexod.errors import InvalidInput
from nexod.serde import utcnow


class SqlOrgBudgets(OrgBudgets):
    """Usage rows upserted with ``ON CONFLICT … DO UPDATE SET tokens = tokens + …``."""

    def __init__(self, engine: AsyncEngine, *, tokens: int | None, cost: float | None) -> None:
        self._engine = engine
        self._default = Limits(tokens=tokens or None, cost=cost or None)

    async def limits(self, org_id: str) -> Limits:
        async with self._engine.connect() as c:
            row = (await c.execute(select(OrgBudget.token_budget, OrgBudget.cost_budget)
                                   .where(OrgBudget.org_id == org_id))).first()
        if row is None:
            return self._default
        tokens = self._default.tokens if row.token_budget is None else (row.token_budget or None)
        cost = self._default.cost if row.cost_budget is None else (row.cost_budget or None)
        return Limits(tokens=tokens, cost=cost)

    async def spent(self, org_id: str, period: str | None = None) -> Spend:
        period = period or period_of()
        async with self._engine.connect() as c:
            row = (await c.execute(select(OrgUsage.tokens, OrgUsage.cost).where(
                OrgUsage.org_id == org_id, OrgUsage.period == period))).first()
        return Spend(period, int(row.tokens), float(row.cost)) if row else Spend(period)

    async def add(self, org_id: str, tokens: int, cost: float | None = None) -> Spend:
        period, now = period_of(), utcnow()
        async with self._engine.begin() as c:
            ins = pg_insert if c.dialect.name == "postgresql" else sqlite_insert
            stmt = ins(OrgUsage).values(org_id=org_id, period=period, tokens=tokens,
                                        cost=float(cost or 0.0), updated_at=now)
            upsert = stmt.on_conflict_do_update(
                index_elements=["org_id", "period"],
                set_={"tokens": OrgUsage.tokens + stmt.excluded.tokens,
                      "cost": OrgUsage.cost + stmt.excluded.cost, "updated_at": now},
            ).returning(OrgUsage.tokens, OrgUsage.cost)
            row = (await c.execute(upsert)).one()
        return Spend(period, int(row.tokens), float(row.cost))

    async def set_limits(self, org_id: str, *, tokens: int | None = None,
                         cost: float | None = None) -> Limits:
        if tokens is not None and tokens < 0:
            raise InvalidInput("a token budget cannot be negative (0: none)", field="tokens")
        if cost is not None and cost < 0:
            raise InvalidInput("a cost budget cannot be negative (0: none)", field="cost")
        given = {k: v for k, v in (("token_budget", tokens), ("cost_budget", cost)) if v is not None}
        if given:
            now = utcnow()
            async with self._engine.begin() as c:
                ins = pg_insert if c.dialect.name == "postgresql" else sqlite_insert
                stmt = ins(OrgBudget).values(org_id=org_id, updated_at=now, **given)
                await c.execute(stmt.on_conflict_do_update(
                    index_elements=["org_id"], set_={**given, "updated_at": now}))
        return await self.limits(org_id)

    async def clear_limits(self, org_id: str) -> Limits:
        async with self._engine.begin() as c:
            await c.execute(delete(OrgBudget).where(OrgBudget.org_id == org_id))
        return await self.limits(org_id)
