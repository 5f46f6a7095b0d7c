"""Tables of results beside the seed's targets, rendered with rich (terminal) or as Markdown.

Each table is built once as plain strings (:class:`TableData`) and rendered either way, so the
README's table and the terminal's are the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from bench.config import AIM_OVERHEAD, SEED_AGENT_RESPONSE, SEED_API_P95, SEED_DATABASE
from bench.latency import CREATE, READS
from bench.suite import BackendResult


@dataclass
class TableData:
    """A titled table of strings; numeric columns are right-aligned when rendered."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str | None = None


def ms(seconds: float) -> str:
    """A duration in milliseconds, with two decimals below 10 ms and one above."""
    value = seconds * 1000
    return f"{value:.2f} ms" if abs(value) < 10 else f"{value:.1f} ms"


def times(ratio: float) -> str:
    """A ratio like ``42x`` or ``3.5x``."""
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def verdict(value: float, *, target: float | None = None, aim: float | None = None) -> str:
    """Pass/fail against the seed's ``target`` and, when given, our stricter ``aim``, with ratios."""
    if value <= 0:
        return "✓ none measurable"
    if target is not None and value > target:
        return f"✗ {times(value / target)} over target"
    if aim is not None:
        if value <= aim:
            return f"✓ {times(aim / value)} under aim"
        under = f"{times(target / value)} under target, " if target is not None else ""
        return f"~ {under}{times(value / aim)} over aim"
    assert target is not None
    return f"✓ {times(target / value)} under target"


def target_text(seconds: float, name: str) -> str:
    """``< 300 ms (API p95)``: a target and what it is."""
    value = f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"
    return f"< {value} ({name})"


def _cpu(seconds: float | None) -> str:
    return "n/a" if seconds is None else ms(seconds)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b <= 0 else times(a / b)


def _diff(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else ms(a - b)


def overhead_table(results: Sequence[BackendResult]) -> TableData:
    """Run times and CPU through Nexod and bare LangGraph, and the difference per run and step."""
    steps = results[0].overhead.nexod.steps
    table = TableData(
        f"Run time, {steps}-node vs 1-node trivial graph: Nexod (HTTP /runs/wait) vs bare LangGraph (ainvoke)",
        ["Backend", "Measured", "1 node p50", "1 node p95", f"{steps} nodes p50", f"{steps} nodes p95",
         "per step p50", "per step p95", "CPU/run 1 node", f"CPU/run {steps} nodes", "CPU/step"],
        caption=f"per step = (t({steps}) - t(1)) / {steps - 1}; overhead = Nexod - LangGraph; "
                f"n = {results[0].overhead.nexod.one.n} of each; CPU = mean per run, of the server "
                "process for Nexod and of the benchmark process for LangGraph",
    )
    for r in results:
        o = r.overhead
        for name, side in (("Nexod", o.nexod), ("bare LangGraph", o.peer)):
            table.rows.append([r.label, name, ms(side.one.p50), ms(side.one.p95), ms(side.many.p50),
                               ms(side.many.p95), ms(side.per_step("p50")), ms(side.per_step("p95")),
                               _cpu(side.cpu_one), _cpu(side.cpu_many), _cpu(side.cpu_per_step())])
        x, p = o.nexod, o.peer
        table.rows.append([
            r.label, "Nexod overhead", ms(o.run_overhead("p50")), ms(o.run_overhead("p95")),
            ms(x.many.p50 - p.many.p50), ms(x.many.p95 - p.many.p95),
            ms(o.step_overhead("p50")), ms(o.step_overhead("p95")),
            _diff(x.cpu_one, p.cpu_one), _diff(x.cpu_many, p.cpu_many),
            _diff(x.cpu_per_step(), p.cpu_per_step()),
        ])
        table.rows.append([
            r.label, "Nexod ÷ LangGraph", times(x.one.p50 / p.one.p50), times(x.one.p95 / p.one.p95),
            times(x.many.p50 / p.many.p50), times(x.many.p95 / p.many.p95),
            _ratio(x.per_step("p50"), p.per_step("p50")), _ratio(x.per_step("p95"), p.per_step("p95")),
            _ratio(x.cpu_one, p.cpu_one), _ratio(x.cpu_many, p.cpu_many),
            _ratio(x.cpu_per_step(), p.cpu_per_step()),
        ])
    return table


def throughput_table(results: Sequence[BackendResult]) -> TableData:
    """Runs per second by concurrency, with run latency and who used the CPU."""
    table = TableData(
        "Runs per second: C clients, each looping /threads/{id}/runs/wait (1-node graph) on its own thread",
        ["Backend", "Clients", "Runs/s", "Run p50", "Run p95", "Errors", "Server CPU", "Client CPU",
         "Machine CPU"],
        caption="CPU: cores busy during the window. Server = the nexod process alone; client = this "
                "benchmark; machine = everything, PostgreSQL and any other load included "
                f"(of {os.cpu_count()} cores)",
    )
    for r in results:
        for t in r.throughput:
            cpu = [f"{c:.2f}" if c is not None else "n/a" for c in (t.server_cpu, t.client_cpu, t.machine_cpu)]
            table.rows.append([r.label, str(t.concurrency), f"{t.runs_per_second:.1f}", ms(t.latency.p50),
                               ms(t.latency.p95), str(t.errors), *cpu])
    return table


def _latency_table(
    title: str, what: str, rows: Sequence[tuple[str, dict[str, Any]]], target: float, target_name: str
) -> TableData:
    """p50 / p95 / max per (backend, operation) beside one seed target."""
    table = TableData(title, ["Backend", what, "n", "p50", "p95", "max", "Target (p95)", "Verdict (p95)"])
    for label, stats in rows:
        for name, s in stats.items():
            table.rows.append([label, name, str(s.n), ms(s.p50), ms(s.p95), ms(s.max),
                               target_text(target, target_name), verdict(s.p95, target=target)])
    return table


def api_table(results: Sequence[BackendResult]) -> TableData:
    """p50 / p95 of each API endpoint against the seed's API p95 target."""
    return _latency_table("API latency, sequential requests", "Endpoint",
                          [(r.label, r.api) for r in results], SEED_API_P95, "API p95")


def database_table(results: Sequence[BackendResult]) -> TableData:
    """Checkpoint write / read latency against the seed's database target."""
    return _latency_table("Database: LangGraph checkpointer operations on the same engine", "Operation",
                          [(r.label, r.database) for r in results], SEED_DATABASE, "database")


@dataclass(frozen=True)
class _Metric:
    name: str
    value: Callable[[BackendResult], float]
    target: float | None
    target_name: str
    aim: float | None = None
    show: Callable[[float], str] = ms


def _runs_per_second(level: int) -> Callable[[BackendResult], float]:
    return lambda r: r.throughput[level].runs_per_second


def _api_p95(endpoint: str) -> Callable[[BackendResult], float]:
    return lambda r: r.api[endpoint].p95


def _metrics(results: Sequence[BackendResult]) -> list[_Metric]:
    steps = results[0].overhead.nexod.steps
    out = [
        _Metric("Per-step overhead p50 (Nexod - LangGraph)", lambda r: r.overhead.step_overhead("p50"),
                None, "", AIM_OVERHEAD),
        _Metric("Per-step overhead p95 (Nexod - LangGraph)", lambda r: r.overhead.step_overhead("p95"),
                None, "", AIM_OVERHEAD),
        _Metric("Per-run overhead p50 (1-node run, Nexod - LangGraph)",
                lambda r: r.overhead.run_overhead("p50"), SEED_API_P95, "API p95", AIM_OVERHEAD),
        _Metric("Per-run overhead p95 (1-node run, Nexod - LangGraph)",
                lambda r: r.overhead.run_overhead("p95"), SEED_API_P95, "API p95", AIM_OVERHEAD),
        _Metric(f"{steps}-node run end to end p95 (no model)", lambda r: r.overhead.nexod.many.p95,
                SEED_AGENT_RESPONSE, "agent response"),
    ]
    for i, clients in enumerate(t.concurrency for t in results[0].throughput):
        out.append(_Metric(f"Runs/s at {clients} client{'s' if clients > 1 else ''}",
                           _runs_per_second(i), None, "", None, lambda v: f"{v:.1f}"))
    out.append(_Metric(f"Run p95 at {results[0].throughput[-1].concurrency} clients",
                       lambda r: r.throughput[-1].latency.p95, SEED_AGENT_RESPONSE, "agent response"))
    for name in READS:
        out.append(_Metric(f"API p95 {name}", _api_p95(name), SEED_API_P95, "API p95"))
    out.append(_Metric(f"API p95 {CREATE} (run creation)", _api_p95(CREATE), SEED_API_P95, "API p95"))
    out.append(_Metric("Database p95, checkpoint write", lambda r: max(
        s.p95 for k, s in r.database.items() if "write" in k), SEED_DATABASE, "database"))
    out.append(_Metric("Database p95, checkpoint read", lambda r: max(
        s.p95 for k, s in r.database.items() if "read" in k), SEED_DATABASE, "database"))
    return out


def summary_table(results: Sequence[BackendResult]) -> TableData:
    """Every headline number, per backend, beside the seed's target or our aim."""
    columns = ["Metric", "Seed target / aim"]
    for r in results:
        columns += [r.label, "Verdict"]
    table = TableData("Nexod beside the seed's targets", columns,
                      caption="✓ within our aim, or the seed target where we set no aim (ratio = how "
                              "far under); ~ within the seed target but not our aim; ✗ over the "
                              "seed target")
    for m in _metrics(results):
        bounds = [target_text(m.target, m.target_name)] if m.target is not None else []
        bounds += [target_text(m.aim, "our aim")] if m.aim is not None else []
        bound = "; ".join(bounds) or "—"
        row = [m.name, bound]
        for r in results:
            value = m.value(r)
            judged = m.target is not None or m.aim is not None
            row += [m.show(value), verdict(value, target=m.target, aim=m.aim) if judged else ""]
        table.rows.append(row)
    return table


def all_tables(results: Sequence[BackendResult]) -> list[TableData]:
    """The detail tables, then the summary."""
    return [overhead_table(results), throughput_table(results), api_table(results),
            database_table(results), summary_table(results)]


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] == "-") and not text.startswith("< ")


def to_rich(data: TableData) -> Table:
    """A rich Table for the terminal."""
    table = Table(title=data.title, caption=data.caption, title_justify="left", caption_justify="left")
    for i, col in enumerate(data.columns):
        numeric = bool(data.rows) and all(_numeric(row[i]) for row in data.rows if row[i])
        table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    for row in data.rows:
        table.add_row(*(Text(cell, style=_style(cell)) for cell in row))
    return table


def _style(cell: str) -> str:
    for mark, style in (("✓", "green"), ("✗", "bold red"), ("~ ", "yellow")):
        if cell.startswith(mark):
            return style
    return ""



def to_markdown(data: TableData) -> str:
    """A GitHub-flavoured Markdown table with its title (and caption) above it."""
    lines = [f"**{data.title}**", ""]
    if data.caption:
        lines[1:1] = ["", f"_{data.caption}_"]
    lines.append("| " + " | ".join(data.columns) + " |")
    lines.append("|" + "|".join("---:" if all(_numeric(r[i]) for r in data.rows if r[i]) and data.rows
                                else "---" for i in range(len(data.columns))) + "|")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in data.rows]
    return "\n".join(lines) + "\n"
