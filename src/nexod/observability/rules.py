"""Alert rules, as they appear in settings (``NEXOD_ALERT_RULES``, a JSON list).

Four kinds:

* ``error_count``: more than ``threshold`` failed requests (HTTP 5xx) within ``window`` seconds;
* ``run_failed``: any run ending in ``error`` or ``timeout`` alerts at once, one alert per graph;
  further failures add to its count; it resolves after ``quiet`` seconds without one;
* ``latency``: the p95 of an SLO metric over ``window`` above ``threshold`` seconds;
* ``regression``: the p95 over ``window`` above ``factor`` times its own p95 over the
  ``baseline`` seconds before it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SloName = Literal["api", "agent", "database", "vector"]
Severity = Literal["info", "warning", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", max_length=64, description="Alert name; defaults from the kind.")
    severity: Severity = "warning"

    @property
    def title(self) -> str:
        """The name used in keys and messages."""
        return self.name or self.default_name()

    def default_name(self) -> str:
        """A name built from the rule's fields."""
        raise NotImplementedError


class ErrorCountRule(_Rule):
    """More than ``threshold`` HTTP 5xx responses within ``window`` seconds."""

    kind: Literal["error_count"]
    threshold: int = Field(10, ge=0)
    window: float = Field(300.0, gt=0)

    def default_name(self) -> str:
        """``error_count``."""
        return "error_count"


class RunFailedRule(_Rule):
    """A run ended in error or timeout: alert immediately, per graph."""

    kind: Literal["run_failed"]
    severity: Severity = "critical"
    quiet: float = Field(300.0, gt=0, description="Seconds without failure before it resolves.")

    def default_name(self) -> str:
        """``run_failed``."""
        return "run_failed"


class LatencyRule(_Rule):
    """The p95 of ``slo`` over ``window`` seconds above ``threshold`` seconds."""

    kind: Literal["latency"]
    slo: SloName
    threshold: float = Field(gt=0)
    window: float = Field(300.0, gt=0)
    min_count: int = Field(20, ge=1, description="Fewer observations in the window: no verdict.")

    def default_name(self) -> str:
        """``latency_<slo>``."""
        return f"latency_{self.slo}"


class RegressionRule(_Rule):
    """The p95 of ``slo`` over ``window`` above ``factor`` x its p95 over the ``baseline`` before."""

    kind: Literal["regression"]
    slo: SloName
    factor: float = Field(2.0, gt=1)
    window: float = Field(300.0, gt=0)
    baseline: float = Field(3600.0, gt=0)
    min_count: int = Field(20, ge=1)

    def default_name(self) -> str:
        """``regression_<slo>``."""
        return f"regression_{self.slo}"


Rule = Annotated[
    ErrorCountRule | RunFailedRule | LatencyRule | RegressionRule, Field(discriminator="kind")
]

# The seed's alert column: API p95 > 500 ms, agent > 10 s, database > 100 ms, vector > 200 ms.
DEFAULT_RULES: tuple[ErrorCountRule | RunFailedRule | LatencyRule | RegressionRule, ...] = (
    ErrorCountRule(kind="error_count", threshold=10, window=300),
    RunFailedRule(kind="run_failed"),
    LatencyRule(kind="latency", slo="api", threshold=0.5),
    LatencyRule(kind="latency", slo="agent", threshold=10.0, min_count=5),
    LatencyRule(kind="latency", slo="database", threshold=0.1),
    LatencyRule(kind="latency", slo="vector", threshold=0.2),
    RegressionRule(kind="regression", slo="api"),
)
