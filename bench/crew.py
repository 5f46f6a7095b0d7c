"""Benchmark: the research crew on the local model (SmolLM2-135M through llama.cpp).

Runs the built-in research crew through a real `nexod serve` (embedded SQLite) and the SDK,
streaming tokens, and prints per repetition: time to first token, time per agent (beside the
seed's "agent response < 5 s"), total time, tokens/s, and the platform's share: everything but
the model calls (tool search, checkpoints, event log, HTTP). Then the bare model on its own.

    make bench-crew                      # 2 repetitions
    .venv/bin/python bench/crew.py --repetitions 3 --topic "vector search"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_sdk import get_client  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.servers import Server  # noqa: E402

AGENT_TARGET = 5.0  # seed: agent response < 5 s


async def one_run(url: str, topic: str) -> dict[str, Any]:
    client = get_client(url=url)
    thread = await client.threads.create()
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    started: dict[str, float] = {}
    agents: dict[str, tuple[str, float]] = {}
    async for part in client.runs.stream(thread["thread_id"], "research", input={"inputs": {"topic": topic}},
                                         stream_mode=["messages-tuple", "custom"]):
        now = time.perf_counter() - start
        if part.event == "messages" and part.data[0].get("content"):
            tokens += 1
            first = now if first is None else first
        elif part.event == "custom":
            if part.data["type"] == "task_started":
                started[part.data["task_id"]] = now
            elif part.data["type"] == "task_completed":
                t = part.data["task_id"]
                agents[t] = (part.data["agent"], now - started[t])
    total = time.perf_counter() - start
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    model_time = sum(o["execution_time"] for o in values["outputs"].values())
    out_tokens = sum(u["output_tokens"] for u in values["usage"].values())
    await client.http.client.aclose()
    return {"ttft": first, "agents": agents, "total": total, "model": model_time,
            "platform": total - model_time, "tokens": out_tokens, "tok_s": out_tokens / model_time,
            "streamed": tokens}


async def bare_model(max_tokens: int) -> dict[str, float]:
    from langchain_core.messages import HumanMessage

    from nexod.llm import ModelFactory
    from nexod.settings import Settings

    model = ModelFactory(Settings()).get()
    start = time.perf_counter()
    await model.ainvoke([HumanMessage("hi")], max_tokens=1)
    load = time.perf_counter() - start
    start = time.perf_counter()
    first: float | None = None
    usage: Any = None
    async for chunk in model.astream([HumanMessage("Write a short paragraph about the sea.")], max_tokens=max_tokens):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        usage = chunk.usage_metadata or usage
    total = time.perf_counter() - start
    out = usage["output_tokens"] if usage else 0
    return {"load": load, "ttft": first or 0.0, "tok_s": out / (total - (first or 0.0)), "tokens": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--topic", default="durable execution")
    args = ap.parse_args()
    console = Console(width=160)
    console.print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(Path(tmp), config=ROOT / "nexod.json")
        srv.start()
        try:
            runs = [asyncio.run(one_run(srv.url, args.topic)) for _ in range(args.repetitions + 1)]
        finally:
            srv.stop()
    runs = runs[1:]  # the first run also loads the model
    table = Table(title="research crew on the local model (warm; first run dropped: it loads the model)")
    for col in ("run", "first token (s)", "researcher (s)", "analyst (s)", "writer (s)", "total (s)",
                "model tokens/s (with prompt)", "platform share (s)", "platform %"):
        table.add_column(col, justify="right")
    for i, r in enumerate(runs, 1):
        per = [r["agents"].get(t, ("", 0.0))[1] for t in ("research_task", "analysis_task", "report_task")]
        table.add_row(str(i), f"{r['ttft']:.2f}", *[f"{p:.2f}" + (" ✗" if p > AGENT_TARGET else " ✓") for p in per],
                      f"{r['total']:.2f}", f"{r['tok_s']:.1f}", f"{r['platform']:.3f}",
                      f"{100 * r['platform'] / r['total']:.1f}")
    console.print(table)
    med = statistics.median
    console.print(f"median: total {med(r['total'] for r in runs):.2f} s, first token {med(r['ttft'] for r in runs):.2f} s, "
                  f"{med(r['tok_s'] for r in runs):.1f} tokens/s, platform {med(r['platform'] for r in runs) * 1000:.0f} ms "
                  f"per crew run; seed target: agent response < {AGENT_TARGET:g} s (✓/✗ per agent above)")
    bare = asyncio.run(bare_model(128))
    console.print(f"bare model (in-process): load {bare['load']:.2f} s, first token {bare['ttft'] * 1000:.0f} ms, "
                  f"{bare['tok_s']:.1f} tokens/s decode over {bare['tokens']} tokens")


if __name__ == "__main__":
    main()
