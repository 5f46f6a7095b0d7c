"""Per-organisation budgets: what an organisation may spend on model calls in a period.

Usage is added up per organisation and calendar month (UTC) in the database, so every process
of a deployment sees the same totals. The limits are ``NEXOD_ORG_TOKEN_BUDGET`` and
``NEXOD_ORG_COST_BUDGET`` (0: none), overridden per organisation by a row of its own
(``nexod budget ORG --tokens N``). Once it is reached, crews pause before their next task
(:mod:`nexod.crews.budget`) and other graphs before their next model call
(:mod:`nexod.runs.budget_guard`), with an ``interrupt({"type": "budget", "scope":
"organisation", …})``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def period_of(moment: datetime | None = None) -> str:
    """The budget period a moment falls in: its calendar month, ``YYYY-MM`` (UTC)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Spend:
    """What an organisation spent in one period."""

    period: str
    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class Limits:
    """An organisation's budget per period; None: unlimited."""

    tokens: int | None = None
    cost: float | None = None

    @property
    def any(self) -> bool:
        """Whether any limit is set."""
        return self.tokens is not None or self.cost is not None


def exceeded(limits: Limits, spend: Spend, allowance: Mapping[str, Any] | None = None,
             ) -> tuple[str, float, float] | None:
    """``(unit, used, budget)`` of the first limit ``spend`` has reached, else None.

    ``allowance`` is what a person allowed one run beyond the budget (``{"period": …,
    "tokens": …, "cost": …}``, totals for the organisation); it counts in its own period only.
    """
    allow = dict(allowance or {}) if (allowance or {}).get("period") == spend.period else {}
    if limits.tokens is not None and spend.tokens >= max(limits.tokens, int(allow.get("tokens") or 0)):
        return "tokens", float(spend.tokens), float(limits.tokens)
    if limits.cost is not None and spend.cost >= max(limits.cost, float(allow.get("cost") or 0)):
        return "cost", spend.cost, limits.cost
    return None


class BudgetStopped(Exception):
    """A person answered a budget pause with stop: the run ends with this error."""


class OrgBudgets(ABC):
    """Usage and limits per organisation; safe to share between concurrent runs."""

    @abstractmethod
    async def limits(self, org_id: str) -> Limits:
        """The organisation's own limits where set, else the settings' defaults."""

    @abstractmethod
    async def spent(self, org_id: str, period: str | None = None) -> Spend:
        """Usage in ``period`` (default: the current one); zero when nothing was recorded."""

    @abstractmethod
    async def add(self, org_id: str, tokens: int, cost: float | None = None) -> Spend:
        """Add one model call's (or one run's) usage to the current period; the new total.

        Atomic across processes: concurrent adds never lose an update.
        """

    @abstractmethod
    async def set_limits(self, org_id: str, *, tokens: int | None = None,
                         cost: float | None = None) -> Limits:
        """Give the organisation its own limits; only the ones given change, 0 means none
        (unlimited, whatever the default). InvalidInput for a negative limit, writing nothing."""

    @abstractmethod
    async def clear_limits(self, org_id: str) -> Limits:
        """Drop the organisation's own limits: back to the settings' defaults."""
