"""The organisation's monthly budget, across runs and server processes, on SQLite and
PostgreSQL: a crew run that would go past it pauses for a person (allow more, or stop), and
``nexod budget`` shows and sets an organisation's own budget."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import pg_admin_url
from tests.servers import ROOT, Server, postgres_database

CONFIG = ROOT / "tests" / "crews" / "nexod.json"
ENV = {"NEXOD_LLM": "python:tests.graphs.scripted:make", "PYTHONPATH": str(ROOT),
       "NEXOD_ORG_TOKEN_BUDGET": "1"}
REVIEW = {"inputs": {"document": "memo", "criteria": "short"}}


@pytest.fixture(params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    if request.param == "postgres":
        with postgres_database(pg_admin_url()) as url:
            s = Server(tmp_path, database_url=url, config=CONFIG, extra_env=ENV)
            yield s
            s.stop()
    else:
        s = Server(tmp_path, config=CONFIG, extra_env=ENV)
        yield s
        s.stop()


def cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nexod.cli", "budget", *args], env=srv.env(),
                          cwd=srv.data_dir, capture_output=True, text=True, timeout=60)


async def status(http: httpx.AsyncClient, kid: str, want: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while (body := (await http.get(f"/crews/review/status/{kid}")).json())["status"] != want:
        assert body["status"] == "running" and time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    return body


async def test_org_budget_pauses_runs_across_processes(srv: Server) -> None:
    srv.start()
    sdk = get_client(url=srv.url)
    thread = (await sdk.threads.create())["thread_id"]
    out = await sdk.runs.wait(thread, "review", input=REVIEW)
    # The first task ran (nothing was spent yet); before the second, the budget is spent.
    ask = out["__interrupt__"][0]["value"]
    assert ask["type"] == "budget" and ask["scope"] == "organisation" and ask["unit"] == "tokens"
    assert ask["task_id"] == "verdict_task" and ask["budget"] == 1 and ask["used"] > 1
    assert ask["org_id"] == "local" and len(ask["period"]) == 7
    assert list(out["outputs"]) == ["audit_task"]
    # An answer that is neither is asked again, saying what to send, rather than failing the run.
    out = await sdk.runs.wait(thread, "review", command={"resume": {"allow": "lots"}})
    again = out["__interrupt__"][0]["value"]
    assert again["task_id"] == "verdict_task" and 'expected {"allow": <a number>}' in again["error"]
    out = await sdk.runs.wait(thread, "review", command={"resume": {"allow": 100_000}})
    assert out["outputs"]["verdict_task"]["json"]["verdict"] == "pass" and out["stopped"] is None
    spent = int(cli(srv).stdout.split(": ")[1].split()[0])
    assert spent == sum(u["total_tokens"] for u in out["usage"].values())

    # Another process sees the same usage: a new run pauses before its first task.
    srv.stop()
    srv.start()
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        kid = (await http.post("/crews/review/kickoff", json=REVIEW)).json()["kickoff_id"]
        body = await status(http, kid, "pending_budget_approval")
        assert body["current_task"] == "audit_task" and body["used_tokens"] == spent
        sdk = get_client(url=srv.url)
        out = await sdk.runs.wait(kid, "review", command={"resume": {"stop": True}})
        assert out["stopped"] == "org_budget" and out["outputs"] == {}
        assert (await status(http, kid, "stopped"))["reason"] == "org_budget"

        # The organisation's own budget (0: none) replaces the default.
        done = cli(srv, "local", "--tokens", "0")
        assert done.returncode == 0 and "tokens of unlimited" in done.stdout, done.stderr
        kid = (await http.post("/crews/review/kickoff", json=REVIEW)).json()["kickoff_id"]
        await status(http, kid, "completed")
        bad = cli(srv, "local", "--tokens", "-5")
        assert bad.returncode == 2 and "cannot be negative" in bad.stderr
        back = cli(srv, "local", "--default")
        assert back.returncode == 0 and "of 1," in back.stdout

        # Over HTTP: members read their organisation's budget; the operator sets anyone's.
        mine = (await http.get("/budget")).json()
        assert mine["org_id"] == "local" and mine["limits"] == {"tokens": 1, "cost": None}
        assert mine["spent"]["tokens"] > spent and mine["remaining"]["tokens"] == 0
        for bad_body in ({}, {"tokens": -1}, {"tokens": "lots"}, {"tokens": 5, "extra": 1}):
            r = await http.put("/budgets/local", json=bad_body)
            assert r.status_code == 422, (bad_body, r.text)
        assert (await http.get("/budget")).json()["limits"]["tokens"] == 1  # nothing written
        r = await http.put("/budgets/local", json={"tokens": 10_000_000, "cost": 2.5})
        assert r.status_code == 200 and r.json()["limits"] == {"tokens": 10_000_000, "cost": 2.5}
        assert r.json()["remaining"]["tokens"] == 10_000_000 - mine["spent"]["tokens"]
        kid = (await http.post("/crews/review/kickoff", json=REVIEW)).json()["kickoff_id"]
        await status(http, kid, "completed")
        other = (await http.put("/budgets/org_other", json={"tokens": 7})).json()
        assert other["org_id"] == "org_other" and other["spent"]["tokens"] == 0
        r = await http.delete("/budgets/local")
        assert r.status_code == 200 and r.json()["limits"]["tokens"] == 1
        r = await http.put("/budgets/bad%00id", json={"tokens": 1})
        assert r.status_code == 422 and "org_id" in r.text, r.text


def _tokens(messages: list[dict[str, Any]]) -> int:
    return sum(int((m.get("usage_metadata") or {}).get("total_tokens") or 0) for m in messages
               if m["type"] == "ai")


async def test_every_graphs_model_calls_count_and_pause(tmp_path: Path) -> None:
    """Not only crews: a plain graph's model calls (an async node, then a sync one) are added
    to the organisation's spend, and a call past the budget pauses the run with the same
    question; allow goes on, stop ends the run with a clear error and spends nothing more."""
    srv = Server(tmp_path, extra_env={"NEXOD_ORG_TOKEN_BUDGET": "1"})
    srv.start()
    try:
        sdk = get_client(url=srv.url)
        thread = (await sdk.threads.create())["thread_id"]
        hello = {"messages": [{"role": "human", "content": "write a haiku"}]}
        out = await sdk.runs.wait(thread, "metered", input=hello)
        # The first call ran (nothing was spent yet); the second finds the budget spent.
        first = _tokens(out["messages"])
        ask = out["__interrupt__"][0]["value"]
        assert first > 1 and len(out["messages"]) == 2
        assert ask["type"] == "budget" and ask["scope"] == "organisation" and ask["unit"] == "tokens"
        assert ask["used"] == first and ask["budget"] == 1 and "task_id" not in ask
        assert (await sdk.threads.get(thread))["status"] == "interrupted"

        out = await sdk.runs.wait(thread, "metered", command={"resume": {"allow": 100_000}})
        assert len(out["messages"]) == 3 and "__interrupt__" not in out
        spent = _tokens(out["messages"])
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
            budget = (await http.get("/budget")).json()
            assert budget["spent"]["tokens"] == spent > first and budget["remaining"]["tokens"] == 0

            # A new run pauses before its first call; stop ends it, with nothing more spent.
            other = (await sdk.threads.create())["thread_id"]
            out = await sdk.runs.wait(other, "metered", input=hello)
            assert out["__interrupt__"][0]["value"]["used"] == spent and len(out["messages"]) == 1
            parts = [p async for p in sdk.runs.stream(other, "metered", command={"resume": {"stop": True}})]
            err = [p.data for p in parts if p.event == "error"]
            assert err and err[0]["error"] == "BudgetStopped", parts
            assert "tokens budget" in err[0]["message"] and "chose to stop" in err[0]["message"]
            assert (await sdk.threads.get(other))["status"] == "error"
            assert len((await sdk.threads.get_state(other))["values"]["messages"]) == 1
            assert (await http.get("/budget")).json()["spent"]["tokens"] == spent
    finally:
        srv.stop()
