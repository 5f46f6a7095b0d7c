"""Latency samples and their summaries (median, p95, …), all in seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``samples``, linearly interpolated between ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """How long one operation took over ``n`` repetitions (seconds)."""

    n: int
    p50: float
    p95: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        """Summarise raw durations; at least one sample is needed."""
        return cls(
            n=len(samples),
            p50=percentile(samples, 50),
            p95=percentile(samples, 95),
            mean=sum(samples) / len(samples),
            min=min(samples),
            max=max(samples),
        )

    def as_ms(self) -> dict[str, Any]:
        """The summary with every duration in milliseconds (for the JSON results file)."""
        return {k: (v if k == "n" else round(v * 1000, 3)) for k, v in asdict(self).items()}
