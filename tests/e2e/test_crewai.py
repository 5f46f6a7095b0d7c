"""A real ``crewai.Crew`` (custom tool and all, ``tests/crews/crewai_crew/crew.py``) served by
Nexod: its agents answer through the scripted chat model, CrewAI's events stream as ``custom``
events, and the thread's state and CrewAI's kickoff contract hold its outputs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.servers import ROOT, Server

if not os.environ.get("CI"):
    pytest.importorskip("crewai", reason="needs the nexod[crewai] extra (make install has it)")

CONFIG = ROOT / "tests" / "crews" / "crewai.json"
ENV = {"NEXOD_LLM": "python:tests.graphs.scripted:make", "PYTHONPATH": str(ROOT)}
CHECKSUM = f"checksum {sum(map(ord, 'Research durable runs'))}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("crewai"), config=CONFIG, extra_env=ENV)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def test_crewai_crew_streams_its_events_and_keeps_its_outputs(server: Server) -> None:
    client = get_client(url=server.url)
    thread = await client.threads.create()
    custom: list[dict[str, Any]] = []
    tokens: list[str] = []
    async for part in client.runs.stream(thread["thread_id"], "stats_crew",
                                         input={"inputs": {"topic": "durable runs"}},
                                         stream_mode=["custom", "messages-tuple"]):
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "messages":
            chunk, meta = part.data
            if chunk.get("content"):
                tokens.append(chunk["content"])
                assert meta["langgraph_node"] == "crew"
    kinds = [e["type"] for e in custom]
    assert kinds.count("task_started") == 2 and kinds.count("task_completed") == 2, kinds
    assert "crew_kickoff_started" in kinds and "crew_kickoff_completed" in kinds
    # CrewAI really called the custom tool, with what the model asked for.
    tool = next(e for e in custom if e["type"] == "tool_usage_finished")
    assert tool["tool"] == "word_stats" and tool["task_id"] == "research"
    assert tool["tool_args"] == {"query": "Research durable runs"} and CHECKSUM in tool["output"]
    steps = [e for e in custom if e["type"] == "agent_step" and e["kind"] == "action"]
    assert steps and steps[0]["tool"] == "word_stats"
    done = {e["task_id"]: e for e in custom if e["type"] == "task_completed"}
    assert set(done) == {"research", "write"} and CHECKSUM in done["research"]["output"]
    assert all(e["source"] == "crewai" for e in custom if e["type"] != "agent_step")
    assert len(tokens) > 10  # the agents' model calls stream token by token

    state = await client.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert values["inputs"] == {"topic": "durable runs"}
    assert list(values["outputs"]) == ["research", "write"]
    research = values["outputs"]["research"]
    assert research["agent"] == "durable runs Researcher" and CHECKSUM in research["output"]
    assert values["result"] == values["outputs"]["write"]["output"]
    assert values["result"].startswith("Answer ") and "Write a note on durable runs" in values["result"]
    usage = values["usage"]
    assert set(usage) == {"topic_researcher", "writer"}
    assert usage["topic_researcher"]["calls"] == 2 and usage["writer"]["calls"] == 1
    assert usage["writer"]["models"] == ["scripted-1"] and usage["writer"]["total_tokens"] > 0


async def test_crewai_crew_through_the_kickoff_contract(http: httpx.AsyncClient) -> None:
    crews = {c["crew_id"]: c for c in (await http.get("/crews")).json()}
    assert crews["stats_crew"]["inputs"] == ["topic"]
    assert crews["stats_crew"]["agents"] == ["topic_researcher", "writer"]
    assert crews["stats_crew"]["tasks"] == ["research", "write"]
    assert crews["stats_crew"]["description"] == "A crewai.Crew with a custom tool"
    assert (await http.get("/crews/stats_factory/inputs")).json() == {"inputs": ["topic"]}

    r = await http.post("/crews/stats_factory/kickoff", json={"inputs": {"topic": "durable runs"}})
    assert r.status_code == 200, r.text
    kid = r.json()["kickoff_id"]
    deadline = time.monotonic() + 60
    while (body := (await http.get(f"/crews/stats_factory/status/{kid}")).json())["status"] != "completed":
        assert body["status"] == "running", body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)
    tasks = body["result"]["tasks"]
    assert [t["task_id"] for t in tasks] == ["research", "write"]
    assert CHECKSUM in tasks[0]["output"] and tasks[0]["execution_time"] is not None
    assert body["result"]["output"] == tasks[1]["output"]

    # Bad input is a 4xx before anything runs, as for a YAML crew.
    before = (await http.post("/threads/count", json={})).json()
    r = await http.post("/crews/stats_crew/kickoff", json={"inputs": {}})
    assert r.status_code == 422 and r.json()["details"] == {"missing_inputs": ["topic"]}
    r = await http.post("/runs/wait", json={"assistant_id": "stats_crew", "input": {"inputs": {"topic": None}}})
    assert r.status_code == 422, r.text
    assert (await http.post("/threads/count", json={})).json() == before
