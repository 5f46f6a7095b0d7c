"""Windows over metric snapshots: quantiles over the last N seconds and the SLO report.

Prometheus histograms only count up, so "p95 over the last five minutes" is the quantile of
the difference between the buckets now and five minutes ago. :class:`History` keeps a
snapshot every ``NEXOD_ALERT_INTERVAL`` seconds for as long as the longest window needs.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from nexod.observability.prometheus import Buckets, Snapshot

# The seed's latency targets (p95), and what each SLO measures.
TARGETS: dict[str, tuple[float, str]] = {
    "api": (0.3, "API request time, non-streaming routes, probes excluded"),
    "agent": (5.0, "agent response: successful run time in the worker"),
    "database": (0.05, "SQL statement time"),
    "vector": (0.1, "vector search time"),
}


def quantile(q: float, buckets: Buckets) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket; None if empty."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le  # beyond the last finite edge: its bound is all we know
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def diff(new: Buckets, old: Buckets | None) -> Buckets:
    """Bucket counts observed between two snapshots."""
    before = dict(old or [])
    return [(le, count - before.get(le, 0.0)) for le, count in new]


@dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    seconds: float
    """How long the window really is (shorter than asked while history is short)."""
    buckets: dict[str, Buckets]
    errors: float

    def count(self, slo: str) -> int:
        """Observations of ``slo`` in the window."""
        b = self.buckets.get(slo) or []
        return int(b[-1][1]) if b else 0

    def p(self, q: float, slo: str) -> float | None:
        """Quantile ``q`` of ``slo`` in the window."""
        return quantile(q, self.buckets.get(slo) or [])


class History:
    """Snapshots at a steady pace, kept for ``keep`` seconds."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self._items: deque[tuple[float, Snapshot]] = deque()

    def add(self, snap: Snapshot, now: float | None = None) -> None:
        """Store a snapshot and forget those older than needed."""
        now = time.monotonic() if now is None else now
        self._items.append((now, snap))
        while len(self._items) > 1 and self._items[1][0] <= now - self.keep:
            self._items.popleft()

    def _at(self, t: float) -> tuple[float, Snapshot] | None:
        """The newest snapshot taken at or before ``t``; else the oldest one."""
        best = None
        for item in self._items:
            if item[0] <= t:
                best = item
            else:
                break
        return best or (self._items[0] if self._items else None)

    def window(self, seconds: float, current: Snapshot, *, end_ago: float = 0.0,
               now: float | None = None) -> Window:
        """The window of ``seconds`` ending ``end_ago`` seconds ago (``current`` is now)."""
        now = time.monotonic() if now is None else now
        end = (now, current) if end_ago <= 0 else self._at(now - end_ago)
        start = self._at(now - end_ago - seconds)
        if end is None or start is None or start[0] > end[0]:
            return Window(0.0, {}, 0.0)
        new, old = end[1], start[1]
        buckets = {k: diff(v, old["buckets"].get(k)) for k, v in new["buckets"].items()}
        return Window(end[0] - start[0], buckets, new["errors"] - old["errors"])


def report(window: Window, requested: float) -> dict[str, Any]:
    """The ``GET /slo`` body: p50 / p95 of each seed target over the window, and verdicts."""
    out = []
    for name, (target, what) in TARGETS.items():
        p95 = window.p(0.95, name)
        out.append({
            "name": name, "measures": what, "target_p95_seconds": target,
            "count": window.count(name), "p50_seconds": _round(window.p(0.5, name)),
            "p95_seconds": _round(p95), "holds": None if p95 is None else p95 <= target,
        })
    return {"window_seconds": requested, "covered_seconds": round(window.seconds, 3),
            "errors_5xx": int(window.errors), "slos": out}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)
