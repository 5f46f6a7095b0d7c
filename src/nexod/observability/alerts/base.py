"""What a notifier receives, and the interface every notifier implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

State = Literal["firing", "repeat", "resolved"]


@dataclass(frozen=True)
class AlertMessage:
    """One notification about an alert: it started, it is still firing, or it cleared."""

    alert_id: str
    key: str
    """Stable per alert (``run_failed:approval``): threads and deduplicates messages."""
    rule: str
    severity: str
    state: State
    title: str
    summary: str
    count: int
    started_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    link: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the generic webhook's body)."""
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        return out


class Notifier(ABC):
    """Delivers alert messages somewhere. Must not raise: failures are logged."""

    name: str = "notifier"

    @abstractmethod
    async def send(self, message: AlertMessage) -> None:
        """Deliver ``message`` (retrying briefly on transient failures)."""

    async def aclose(self) -> None:
        """Release connections."""
        return None
