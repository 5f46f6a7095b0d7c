"""``nexod run`` and ``nexod crews``: run a crew in this process with a live progress display.

The run is an ordinary durable run on the configured storage (embedded SQLite by default), so
what the terminal shows is the same event stream an API client would get.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
from rich.console import Console

from nexod.core import Core, open_core
from nexod.graphs.registry import GraphRegistry
from nexod.runs.kickoffs import STREAM_MODES
from nexod.settings import LOCAL_ORG, Settings


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    """``key=value`` pairs; ValueError names a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--input {pair!r}: expected key=value, e.g. --input topic=\"AI agents\"")
        out[key.strip()] = value
    return out


class Progress:
    """Prints crew events as they come: which agent on which task, tokens, timings."""

    def __init__(self, console: Console, *, show_tokens: bool) -> None:
        self.console = console
        self.show_tokens = show_tokens
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.tokens = 0
        self.pending: dict[str, Any] | None = None
        self.values: dict[str, Any] = {}

    def handle(self, name: str, data: Any) -> None:
        """One event of the run."""
        if name == "messages" and isinstance(data, list) and data:
            text = data[0].get("content") if isinstance(data[0], dict) else None
            if isinstance(text, str) and text:
                self.tokens += 1
                if self.first_token is None:
                    self.first_token = time.monotonic() - self.started
                if self.show_tokens:
                    self.console.out(text, end="", highlight=False)
            return
        if name == "updates" and isinstance(data, dict):
            for intr in data.get("__interrupt__") or []:
                value = intr.get("value") if isinstance(intr, dict) else None
                if isinstance(value, dict) and value.get("type") == "human_input":
                    self.pending = value
            return
        if name != "custom" or not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == "task_started":
            self.console.print(f"\n[bold cyan]▶ {data['agent']}[/] — {data['task_id']}"
                               + (f" (attempt {data['attempt']})" if data.get("attempt", 1) > 1 else ""))
        elif kind == "tool_usage_finished":
            self.console.print(f"[dim]  {data['tool']}: {'found passages' if data['found'] else 'nothing found'}[/]")
        elif kind == "task_completed":
            if not self.show_tokens:
                self.console.print(data.get("output", ""), highlight=False)
            self.console.print(f"\n[green]✓ {data['task_id']}[/] [dim]{data['execution_time']:.1f} s[/]")
        elif kind == "crew_kickoff_completed":
            self.values = data


async def run_crew(
    settings: Settings, registry: GraphRegistry, crew_id: str, inputs: dict[str, Any], *,
    console: Console, show_tokens: bool = True, interactive: bool | None = None, write: bool = True,
) -> dict[str, Any]:
    """Run a crew to its end (asking for human input on the terminal when it is a tty)."""
    crew = registry.crew(crew_id)
    merged = crew.check_inputs(inputs)
    interactive = sys.stdin.isatty() if interactive is None else interactive
    async with open_core(settings, registry=registry) as core:
        progress = Progress(console, show_tokens=show_tokens)
        payload: dict[str, Any] = {"assistant_id": crew_id, "input": {"inputs": merged},
                                   "if_not_exists": "create", "stream_mode": STREAM_MODES}
        thread_id: str | None = None
        while True:
            run = await core.runs.create(LOCAL_ORG, thread_id, payload) if thread_id else \
                await core.runs.create(LOCAL_ORG, _new_id(), payload)
            thread_id = run.thread_id
            progress.pending = None
            await _follow(core, run.run_id, thread_id, progress)
            final = await core.runs.get(LOCAL_ORG, thread_id, run.run_id)
            if final.status != "success":
                raise RuntimeError(f"run {run.run_id} ended in {final.status}: {(final.error or {}).get('message')}")
            if progress.pending is None:
                break
            answer = _ask(console, progress.pending) if interactive else None
            if answer is None:
                console.print(f"[yellow]Task {progress.pending['task_id']} waits for a person.[/] "
                              f"Resume with POST /crews/{crew_id}/resume "
                              f"{{\"execution_id\": \"{thread_id}\", \"task_id\": \"{progress.pending['task_id']}\", ...}}")
                return {"status": "pending_human_input", "kickoff_id": thread_id}
            payload = {"assistant_id": crew_id, "command": {"resume": answer}, "stream_mode": STREAM_MODES}
        state = await core.state.get(LOCAL_ORG, thread_id)
        values = state.get("values") or {}
        total = time.monotonic() - progress.started
        written = write_files(values) if write else {}
        return {"status": "completed", "kickoff_id": thread_id, "result": values.get("result"),
                "usage": values.get("usage") or {}, "files": written,
                "seconds": round(total, 2), "first_token_seconds": progress.first_token,
                "tokens": progress.tokens}


def write_files(values: dict[str, Any]) -> dict[str, str]:
    """Write each task's ``output_file`` under the current directory, as CrewAI does; a path
    that would leave it is skipped. Returns task → path written."""
    from pathlib import Path

    base = Path.cwd().resolve()
    written: dict[str, str] = {}
    for task, name in (values.get("files") or {}).items():
        out = (values.get("outputs") or {}).get(task)
        path = (base / name).resolve()
        if out is None or not path.is_relative_to(base):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(out["output"]) + "\n", encoding="utf-8")
        written[task] = str(path.relative_to(base))
    return written


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


async def _follow(core: Core, run_id: str, thread_id: str, progress: Progress) -> None:
    async for ev in core.runs.stream(LOCAL_ORG, thread_id, run_id, after=0,
                                     heartbeat=core.settings.heartbeat_interval):
        if ev is not None:
            progress.handle(ev.event, orjson.loads(ev.data))


def _ask(console: Console, pending: dict[str, Any]) -> dict[str, Any] | None:
    console.print(f"\n[bold yellow]Review {pending['task_id']}[/]: Enter approves; type feedback to redo it.")
    try:
        text = input("> ").strip()
    except EOFError:
        return None
    return {"approved": not text, "feedback": text, "by": "cli"}
