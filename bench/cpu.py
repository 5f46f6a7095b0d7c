"""CPU time of a process, to show who is busy during a load test (Linux ``/proc``)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds used so far by ``pid`` (this process when None).

    None when the process's ``/proc`` entry cannot be read (not Linux, or it is gone).
    """
    if pid is None:
        return time.process_time()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces) start at field 3; utime and
    # stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``; None if absent."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def machine_busy_cores(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Cores the whole machine kept busy between two :func:`machine_cpu_ticks` readings."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)
