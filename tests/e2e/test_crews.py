"""Crews over HTTP: CrewAI's kickoff / status / resume contract, webhooks, token streaming,
bad input, and a crew and an approval workflow that wait on a person across a restart.

The server runs the scripted chat model (``tests/graphs/scripted.py``)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from langgraph_sdk import get_client

from tests.conftest import pg_admin_url
from tests.servers import ROOT, Server, free_port, postgres_database

CONFIG = ROOT / "tests" / "crews" / "nexod.json"
ENV = {"NEXOD_LLM": "python:tests.graphs.scripted:make", "PYTHONPATH": str(ROOT)}


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any], str | None]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Hooks.received.append((self.path, body, self.headers.get("authorization")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[tuple[str, dict[str, Any], str | None]]]]:
    port = free_port()
    httpd = HTTPServer(("127.0.0.1", port), _Hooks)
    _Hooks.received = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", _Hooks.received
    httpd.shutdown()


@pytest.fixture(scope="module")
def crew_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("crews"), config=CONFIG, extra_env=ENV)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(crew_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=crew_server.url, timeout=30) as c:
        yield c


async def wait_status(http: httpx.AsyncClient, crew: str, kid: str, want: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await http.get(f"/crews/{crew}/status/{kid}")).json()
        if body.get("status") == want:
            return body
        assert body.get("status") in ("running", "pending_human_input", "completed"), body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def wait_for(received: list[Any], count: int) -> None:
    for _ in range(200):
        if len(received) >= count:
            return
        await asyncio.sleep(0.05)


async def test_list_and_inputs(http: httpx.AsyncClient) -> None:
    crews = {c["crew_id"]: c for c in (await http.get("/crews")).json()}
    assert crews["research"]["agents"] == ["researcher", "analyst", "writer"]
    assert crews["approval_crew"]["human_input_tasks"] == ["draft_task"]
    assert (await http.get("/crews/review/inputs")).json() == {"inputs": ["document", "criteria"]}
    # A crew is an assistant like any graph.
    found = (await http.post("/assistants/search", json={"graph_id": "research"})).json()
    assert len(found) == 1


async def test_kickoff_to_completed_with_webhooks(http: httpx.AsyncClient, hooks: Any) -> None:
    base, received = hooks
    r = await http.post("/crews/research/kickoff", json={
        "inputs": {"topic": "durable runs"}, "taskWebhookUrl": f"{base}/task",
        "crewWebhookUrl": f"{base}/crew", "meta": {"requested_by": "test"},
        "webhooks": {"events": ["task_completed"], "url": f"{base}/events", "realtime": True,
                     "authentication": {"strategy": "bearer", "token": "s3cret"}},
    })
    assert r.status_code == 200, r.text
    kid = r.json()["kickoff_id"]
    done = await wait_status(http, "research", kid, "completed")
    tasks = done["result"]["tasks"]
    assert [t["task_id"] for t in tasks] == ["research_task", "analysis_task", "report_task"]
    assert tasks[0]["agent"] == "durable runs Researcher" and all(t["output"] for t in tasks)
    assert done["result"]["output"] == tasks[-1]["output"]
    assert set(done["result"]["usage"]) == {"researcher", "analyst", "writer"}
    assert done["execution_time"] > 0
    await wait_for(received, 7)
    paths = [p for p, _, _ in received]
    assert paths.count("/task") == 3 and paths.count("/events") == 3 and paths[-1] == "/crew"
    crew_hook = received[-1][1]
    assert crew_hook["kickoff_id"] == kid and crew_hook["status"] == "completed"
    assert crew_hook["result"] == done["result"]["output"]
    event = next(b for p, b, _ in received if p == "/events")["events"][0]
    assert event["type"] == "task_completed" and event["execution_id"] == kid
    assert {a for p, _, a in received if p == "/events"} == {"Bearer s3cret"}
    runs = (await http.get(f"/threads/{kid}/runs")).json()
    assert runs[0]["kwargs"]["crew_webhooks"]["webhooks"]["authentication"] == "***"
    assert "s3cret" not in json.dumps(runs)


async def test_crew_streams_tokens_through_the_sdk(crew_server: Server) -> None:
    client = get_client(url=crew_server.url)
    thread = await client.threads.create()
    tokens: list[str] = []
    tasks: list[str] = []
    async for part in client.runs.stream(thread["thread_id"], "review",
                                         input={"inputs": {"document": "memo", "criteria": "short"}},
                                         stream_mode=["messages-tuple", "custom"]):
        if part.event == "messages":
            chunk, meta = part.data
            if chunk.get("content"):
                tokens.append(chunk["content"])
                tasks.append(meta["langgraph_node"])
        elif part.event == "custom" and part.data["type"] == "task_completed":
            assert part.data["agent"] in ("Document Auditor", "Review Validator")
    assert len(tokens) > 10  # word by word, not one message per task
    assert tasks[0] == "audit_task" and tasks[-1] == "verdict_task"
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["outputs"]["verdict_task"]["json"]["verdict"] == "pass"


async def test_bad_requests_are_4xx_and_write_nothing(http: httpx.AsyncClient) -> None:
    before = (await http.post("/threads/count", json={})).json()
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/crews/nope/kickoff", {"inputs": {}}, 404, "crew 'nope' not found"),
        ("/crews/review/kickoff", {"inputs": {"document": "d"}}, 422, "Missing required inputs"),
        ("/crews/review/kickoff", {"inputs": {"document": "d", "criteria": None}}, 422, "inputs.criteria"),
        ("/crews/review/kickoff", {"inputs": "text"}, 422, "inputs"),
        ("/crews/review/kickoff", {"inputs": {}, "bogus": 1}, 422, "bogus"),
        ("/crews/review/kickoff", {"inputs": {}, "crewWebhookUrl": "not a url"}, 422, "crewWebhookUrl"),
    ]
    for path, body, code, text in cases:
        r = await http.post(path, json=body)
        assert r.status_code == code, (path, body, r.text)
        assert text in r.text, r.text
    missing = (await http.post("/crews/review/kickoff", json={"inputs": {"document": "d"}})).json()
    assert missing["error"] == "Validation Error" and missing["details"] == {"missing_inputs": ["criteria"]}
    assert (await http.post("/threads/count", json={})).json() == before
    # The LangGraph runs API checks a crew's inputs too, before anything is queued.
    thread = (await http.post("/threads", json={})).json()["thread_id"]
    before = (await http.post("/threads/count", json={})).json()
    r = await http.post(f"/threads/{thread}/runs", json={"assistant_id": "review", "input": {"inputs": {"document": "d"}}})
    assert r.status_code == 422 and "missing inputs: criteria" in r.json()["detail"]
    r = await http.post("/runs/wait", json={"assistant_id": "review", "input": {"inputs": "x"}})
    assert r.status_code == 422 and r.json()["field"] == "input"
    assert (await http.get(f"/threads/{thread}/runs")).json() == []
    assert (await http.post("/threads/count", json={})).json() == before
    r = await http.get("/crews/review/status/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404 and r.json()["error"] == "Execution not found"
    assert (await http.get("/crews/review/status/not-a-uuid")).status_code == 404
    kid = (await http.post("/crews/review/kickoff", json={"inputs": {"document": "d", "criteria": "c"}})).json()["kickoff_id"]
    await wait_status(http, "review", kid, "completed")
    assert (await http.get(f"/crews/research/status/{kid}")).status_code == 404  # another crew's execution
    r = await http.post("/crews/review/resume", json={"execution_id": kid, "task_id": "audit_task",
                                                      "human_feedback": "", "is_approve": True})
    assert r.status_code == 400 and "not in pending human input state" in r.json()["message"]
    r = await http.post("/crews/review/resume", json={"execution_id": kid, "task_id": "audit_task"})
    assert r.status_code == 422 and "is_approve" in r.text


@pytest.fixture
def restart_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    env = {**ENV, "NEXOD_LEASE_SECONDS": "2"}
    if backend == "postgres":
        with postgres_database(pg_admin_url()) as url:
            srv = Server(tmp_path, database_url=url, config=CONFIG, extra_env=env)
            yield srv
            srv.stop()
    else:
        srv = Server(tmp_path, config=CONFIG, extra_env=env)
        yield srv
        srv.stop()


async def test_crew_and_approval_waiting_on_a_person_survive_a_restart(restart_server: Server, hooks: Any) -> None:
    base, received = hooks
    restart_server.start()
    async with httpx.AsyncClient(base_url=restart_server.url, timeout=30) as http:
        r = await http.post("/crews/approval_crew/kickoff", json={
            "inputs": {"subject": "leave"}, "crewWebhookUrl": f"{base}/crew",
            "humanInputWebhook": {"url": f"{base}/human", "authentication": {"strategy": "basic", "username": "u", "password": "p"}},
        })
        kid = r.json()["kickoff_id"]
        pending = await wait_status(http, "approval_crew", kid, "pending_human_input")
        assert pending["task_id"] == "draft_task" and pending["progress"]["completed_tasks"] == 1
        sdk = get_client(url=restart_server.url)
        thread = await sdk.threads.create()
        out = await sdk.runs.wait(thread["thread_id"], "approval", input={"request": "laptop", "amount": 500})
        assert out["__interrupt__"][0]["value"]["amount"] == 500

    restart_server.kill()
    restart_server.start()
    async with httpx.AsyncClient(base_url=restart_server.url, timeout=30) as http:
        assert (await wait_status(http, "approval_crew", kid, "pending_human_input"))["task_id"] == "draft_task"
        r = await http.post("/crews/approval_crew/resume", json={
            "execution_id": kid, "task_id": "draft_task", "human_feedback": "shorter", "is_approve": False})
        assert r.json()["status"] == "retrying", r.text
        again = await wait_status(http, "approval_crew", kid, "pending_human_input")
        while "revised: shorter" not in again["output"]:
            await asyncio.sleep(0.1)
            again = await wait_status(http, "approval_crew", kid, "pending_human_input")
        r = await http.post("/crews/approval_crew/resume", json={
            "execution_id": kid, "task_id": "draft_task", "is_approve": True, "by": "carol"})
        assert r.json()["status"] == "resumed"
        done = await wait_status(http, "approval_crew", kid, "completed")
        decisions = done["result"]["decisions"]
        assert [(d["approved"], d["feedback"]) for d in decisions] == [(False, "shorter"), (True, "")]
        assert decisions[1]["by"] == "carol"

        sdk = get_client(url=restart_server.url)
        out = await sdk.runs.wait(thread["thread_id"], "approval",
                                  command={"resume": {"approved": True, "by": "alice"}})
        assert out["decision"] == "approved" and out["decided_by"] == "alice" and out["decided_at"]

    await wait_for(received, 3)
    paths = [p for p, _, _ in received]
    # Webhooks given at kickoff are remembered: the resumes did not repeat them.
    assert paths.count("/human") == 2 and paths.count("/crew") == 1 and paths[-1] == "/crew"
    assert received[-1][1]["status"] == "completed"
    assert {a for p, _, a in received if p == "/human"} == {"Basic dTpw"}


async def test_researcher_searches_the_knowledge_base(http: httpx.AsyncClient, crew_server: Server) -> None:
    """A document ingested through /knowledge reaches the Researcher's prompt through its
    knowledge_search tool; a document in another namespace does not."""
    topic = "heliostat calibration"
    ingest = await http.post("/knowledge/documents", json={
        "source": "heliostats.md", "content_type": "text/markdown",
        "text": "# Heliostat calibration\n\nHeliostat calibration drift is corrected nightly "
                "against the sun sensor, reference FACT-4411.\n"})
    assert ingest.status_code == 201, ingest.text
    other = await http.post("/knowledge/documents", json={
        "source": "elsewhere.md", "namespace": "private-notes",
        "text": "Heliostat calibration research task notes, reference FACT-9902."})
    assert other.status_code == 201, other.text
    client = get_client(url=crew_server.url)
    thread = await client.threads.create()
    found: list[bool] = []
    async for part in client.runs.stream(thread["thread_id"], "research",
                                         input={"inputs": {"topic": topic}}, stream_mode=["custom"]):
        if part.event == "custom" and part.data["type"] == "tool_usage_finished":
            found.append(part.data["found"])
    assert found == [True]
    state = await client.threads.get_state(thread["thread_id"])
    research = state["values"]["outputs"]["research_task"]["output"]
    assert "FACT-4411" in research
    assert "FACT-9902" not in research
