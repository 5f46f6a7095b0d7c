"""``/budget``: what an organisation may spend on model calls this month, and has spent.

Members read their own organisation's budget; the platform's operator (admins of the local
organisation) sets any organisation's, like ``nexod budget ORG --tokens N --cost X``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import Field

from nexod.api.deps import READ, CoreDep, OrgDep, json_response, operator
from nexod.api.schemas import Body
from nexod.budgets.base import OrgBudgets
from nexod.errors import InvalidInput

router = APIRouter(tags=["budgets"])
OPERATOR = operator("set organisations' budgets")
OrgId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.@-]+$",
                              description="An organisation id (`local`, `org_…`, `personal:user_…`)")]


class BudgetLimits(Body):
    """An organisation's own limits per month; a field left out keeps its value, 0 is none."""

    tokens: int | None = Field(None, ge=0, description="Tokens per UTC month (0: unlimited).")
    cost: float | None = Field(None, ge=0, description="Cost per UTC month, in the price table's "
                               "currency (0: unlimited).")


async def _report(budgets: OrgBudgets, org_id: str) -> dict[str, Any]:
    limits, spent = await budgets.limits(org_id), await budgets.spent(org_id)
    return {
        "org_id": org_id, "period": spent.period,
        "limits": {"tokens": limits.tokens, "cost": limits.cost},
        "spent": {"tokens": spent.tokens, "cost": round(spent.cost, 6)},
        "remaining": {
            "tokens": None if limits.tokens is None else max(0, limits.tokens - spent.tokens),
            "cost": None if limits.cost is None else round(max(0.0, limits.cost - spent.cost), 6),
        },
    }


@router.get("/budget", summary="This organisation's budget and spend this month", dependencies=[READ])
async def get_budget(core: CoreDep, org: OrgDep) -> Response:
    """Limits (``null``: none), what was spent and what remains in the current UTC month."""
    return json_response(await _report(core.budgets, org))


@router.get("/budgets/{org_id}", summary="An organisation's budget (operator)", dependencies=[OPERATOR])
async def get_org_budget(org_id: OrgId, core: CoreDep) -> Response:
    """As ``GET /budget``, for any organisation."""
    return json_response(await _report(core.budgets, org_id))


@router.put("/budgets/{org_id}", summary="Set an organisation's own budget (operator)",
            dependencies=[OPERATOR])
async def put_org_budget(org_id: OrgId, body: BudgetLimits, core: CoreDep) -> Response:
    """Only the limits given change; the organisation's report comes back."""
    if body.tokens is None and body.cost is None:
        raise InvalidInput("give tokens, cost or both", field="tokens")
    budgets = core.budgets
    await budgets.set_limits(org_id, tokens=body.tokens, cost=body.cost)
    return json_response(await _report(budgets, org_id))


@router.delete("/budgets/{org_id}", summary="Drop an organisation's own budget (operator)",
               dependencies=[OPERATOR])
async def delete_org_budget(org_id: OrgId, core: CoreDep) -> Response:
    """Back to ``NEXOD_ORG_TOKEN_BUDGET`` / ``NEXOD_ORG_COST_BUDGET``; the report comes back."""
    budgets = core.budgets
    await budgets.clear_limits(org_id)
    return json_response(await _report(budgets, org_id))
