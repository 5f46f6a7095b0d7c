"""Bad input gets a clear error and loses nothing.

Unknown ids are 404, malformed or unsupported input is a 422 whose ``detail`` names the field,
a busy thread with ``multitask_strategy="reject"`` is 409; never a 500, always a JSON body
``{"detail": "..."}``. After every rejected request the test checks, through the API, that
nothing was written: no run, no thread, no assistant, no checkpoint, no store item.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import Server, ws_error

# Printed by uvicorn when a request raised past every handler, i.e. the client got a 500.
UNHANDLED = "Exception in ASGI application"
SLOW = {"configurable": {"delay": 0.4}}  # the `steps` graph then runs for about two seconds


@pytest.fixture
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP against the server, for requests the SDK would never send."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture(autouse=True)
def no_unhandled_errors(server: Server) -> Iterator[None]:
    """Whatever the test sent, the server handled it: no request ended in an unhandled exception."""
    seen = server.logs().count(UNHANDLED)
    yield
    assert server.logs().count(UNHANDLED) == seen, server.logs()[-4000:]


def new_id() -> str:
    return str(uuid.uuid4())


def expect_error(resp: httpx.Response, status: int, *names: str) -> str:
    """``resp`` is a JSON ``{"detail": str}`` error with ``status``; ``detail`` mentions ``names``."""
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and detail
    for name in names:
        assert name in detail, f"{name!r} not named in {detail!r}"
    return detail


async def make_thread(api: httpx.AsyncClient, **body: Any) -> str:
    resp = await api.post("/threads", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["thread_id"])


async def run_to_end(api: httpx.AsyncClient, thread_id: str) -> None:
    resp = await api.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "steps", "input": {}})
    assert resp.status_code == 200 and resp.json()["done"][-1] == "s5", resp.text


async def runs_of(api: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/threads/{thread_id}/runs", params={"limit": 100})
    assert resp.status_code == 200, resp.text
    runs: list[dict[str, Any]] = resp.json()
    return runs


async def history_ids(api: httpx.AsyncClient, thread_id: str) -> list[str]:
    resp = await api.post(f"/threads/{thread_id}/history", json={"limit": 1000})
    assert resp.status_code == 200, resp.text
    return [s["checkpoint"]["checkpoint_id"] for s in resp.json()]


async def assert_no_thread(api: httpx.AsyncClient, thread_id: str) -> None:
    expect_error(await api.get(f"/threads/{thread_id}"), 404, "thread")
    found = await api.post("/threads/search", json={"ids": [thread_id]})
    assert found.status_code == 200 and found.json() == []


async def count_threads(api: httpx.AsyncClient, metadata: dict[str, Any]) -> int:
    resp = await api.post("/threads/count", json={"metadata": metadata})
    assert resp.status_code == 200, resp.text
    return int(resp.json())


async def wait_until_running(api: httpx.AsyncClient, thread_id: str, run_id: str) -> None:
    for _ in range(200):
        run = (await api.get(f"/threads/{thread_id}/runs/{run_id}")).json()
        if run["status"] == "running":
            return
        await asyncio.sleep(0.02)
    pytest.fail("run never started")


# --- 404: unknown assistant / thread / run on every kind of endpoint ---------------------------

ASSISTANT_ENDPOINTS = [
    ("GET", "/assistants/{a}", None),
    ("PATCH", "/assistants/{a}", {"name": "x"}),
    ("DELETE", "/assistants/{a}", None),
    ("GET", "/assistants/{a}/graph", None),
    ("GET", "/assistants/{a}/schemas", None),
    ("GET", "/assistants/{a}/subgraphs", None),
    ("POST", "/assistants/{a}/versions", {}),
    ("POST", "/assistants/{a}/latest", {"version": 1}),
]

THREAD_ENDPOINTS = [
    ("GET", "/threads/{t}", None),
    ("PATCH", "/threads/{t}", {"metadata": {"k": 1}}),
    ("DELETE", "/threads/{t}", None),
    ("POST", "/threads/{t}/copy", None),
    ("GET", "/threads/{t}/state", None),
    ("POST", "/threads/{t}/state", {"values": {"done": ["x"]}}),
    ("POST", "/threads/{t}/state/checkpoint", {"checkpoint": {"checkpoint_ns": ""}}),
    ("GET", "/threads/{t}/state/{c}", None),
    ("POST", "/threads/{t}/history", {}),
    ("GET", "/threads/{t}/history", None),
    ("GET", "/threads/{t}/runs", None),
    ("POST", "/threads/{t}/runs", {"assistant_id": "steps", "input": {}}),
    ("POST", "/threads/{t}/runs/stream", {"assistant_id": "steps", "input": {}}),
    ("POST", "/threads/{t}/runs/wait", {"assistant_id": "steps", "input": {}}),
    ("GET", "/threads/{t}/stream", None),
]

RUN_ENDPOINTS = [
    ("GET", "/threads/{t}/runs/{r}", None),
    ("DELETE", "/threads/{t}/runs/{r}", None),
    ("GET", "/threads/{t}/runs/{r}/join", None),
    ("GET", "/threads/{t}/runs/{r}/stream", None),
    ("POST", "/threads/{t}/runs/{r}/cancel", None),
    ("POST", "/threads/{t}/runs/{r}/cancel?wait=true", None),
]


async def call(api: httpx.AsyncClient, method: str, path: str, body: Any, **ids: str) -> httpx.Response:
    return await api.request(method, path.format(**ids), json=body)


@pytest.mark.parametrize(("method", "path", "body"), ASSISTANT_ENDPOINTS)
async def test_unknown_assistant_is_404(api: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    for assistant in (new_id(), "no-such-graph"):  # an id, and a name that is no graph
        expect_error(await call(api, method, path, body, a=assistant), 404, "assistant", assistant)


@pytest.mark.parametrize(("method", "path", "body"), THREAD_ENDPOINTS)
async def test_unknown_thread_is_404_and_not_created(
    api: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    tid = new_id()
    expect_error(await call(api, method, path, body, t=tid, c=new_id()), 404, "thread", tid)
    await assert_no_thread(api, tid)


@pytest.mark.parametrize(("method", "path", "body"), RUN_ENDPOINTS)
async def test_unknown_run_is_404(api: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    tid = await make_thread(api)
    rid = new_id()
    expect_error(await call(api, method, path, body, t=tid, r=rid), 404, "run", rid)
    # Unknown thread too.
    expect_error(await call(api, method, path, body, t=new_id(), r=rid), 404)
    # A real run asked for through another thread is not found there, and is left alone.
    other = await make_thread(api)
    run = (await api.post(f"/threads/{other}/runs", json={"assistant_id": "steps", "input": {}})).json()
    expect_error(await call(api, method, path, body, t=tid, r=run["run_id"]), 404, "run")
    got = await api.get(f"/threads/{other}/runs/{run['run_id']}")
    assert got.status_code == 200 and got.json()["status"] != "interrupted"
    assert await runs_of(api, tid) == []


async def test_run_for_unknown_assistant_writes_nothing(api: httpx.AsyncClient) -> None:
    aid = new_id()
    tid = await make_thread(api, metadata={"probe": "unknown-assistant"})
    for tail in ("runs", "runs/wait", "runs/stream"):
        expect_error(await api.post(f"/threads/{tid}/{tail}", json={"assistant_id": aid, "input": {}}),
                     404, "assistant", aid)
    assert await runs_of(api, tid) == []
    thread = (await api.get(f"/threads/{tid}")).json()
    assert thread["status"] == "idle" and thread["metadata"] == {"probe": "unknown-assistant"}
    # Even with if_not_exists=create, no thread appears for a run that was refused.
    missing = new_id()
    resp = await api.post(f"/threads/{missing}/runs",
                          json={"assistant_id": aid, "input": {}, "if_not_exists": "create"})
    expect_error(resp, 404, "assistant")
    await assert_no_thread(api, missing)
    for tail in ("runs", "runs/wait", "runs/stream"):
        expect_error(await api.post(f"/{tail}", json={"assistant_id": aid, "input": {}}), 404, "assistant")
    assert await count_threads(api, {"assistant_id": aid}) == 0


# --- 422: ids that are not UUIDs ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), THREAD_ENDPOINTS)
async def test_non_uuid_thread_id_is_422(api: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    expect_error(await call(api, method, path, body, t="not-a-uuid", c=new_id()), 422, "thread_id", "not-a-uuid")


@pytest.mark.parametrize(("method", "path", "body"), RUN_ENDPOINTS)
async def test_non_uuid_run_id_is_422(api: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    tid = await make_thread(api)
    expect_error(await call(api, method, path, body, t=tid, r="run-42"), 422, "run_id", "run-42")
    expect_error(await call(api, method, path, body, t="thread-42", r=new_id()), 422, "thread_id")


async def test_non_uuid_ids_in_bodies_and_queries_are_422(api: httpx.AsyncClient) -> None:
    tid = await make_thread(api)
    expect_error(await api.get(f"/threads/{tid}/state/cp-1"), 422, "checkpoint_id", "cp-1")
    expect_error(await api.get(f"/threads/{tid}/history", params={"before": "cp-1"}), 422, "before")
    expect_error(await api.post("/threads", json={"thread_id": "t-1"}), 422, "thread_id")
    expect_error(await api.post("/threads/search", json={"ids": [tid, "t-1"]}), 422, "ids[1]")
    expect_error(await api.post("/runs/cancel", json={"run_ids": ["r-1"]}), 422, "run_ids[0]")
    # An assistant id that is not a UUID could never be fetched again: refused, not stored.
    tag = new_id()
    resp = await api.post("/assistants", json={"graph_id": "steps", "assistant_id": "my-bot",
                                               "metadata": {"tag": tag}})
    expect_error(resp, 422, "assistant_id")
    count = await api.post("/assistants/count", json={"metadata": {"tag": tag}})
    assert count.json() == 0


# --- 422: malformed JSON, wrong types, unsupported fields ---------------------------------------


async def test_malformed_json_is_422_and_writes_nothing(api: httpx.AsyncClient) -> None:
    tid = await make_thread(api)
    headers = {"content-type": "application/json"}
    for path, text in [
        ("/threads", '{"metadata": {"a": 1}'),
        (f"/threads/{tid}/runs", '{"assistant_id": "steps",'),
        (f"/threads/{tid}/runs/wait", "assistant_id=steps"),
        ("/runs/batch", '[{"assistant_id": "steps"}'),
        ("/assistants", "{'graph_id': 'steps'}"),
    ]:
        detail = expect_error(await api.post(path, content=text, headers=headers), 422, "body", "invalid JSON")
        assert "character" in detail
    assert await runs_of(api, tid) == []


# (endpoint, body, what the detail must name)
WRONG_TYPES = [
    ("/threads", {"metadata": "not an object"}, "metadata"),
    ("/threads/search", {"limit": "ten"}, "limit"),
    ("/threads/search", {"limit": 0}, "limit"),
    ("/threads/search", {"offset": 2**40}, "offset"),
    ("/threads/search", {"status": "sleeping"}, "status"),
    ("/assistants", {"graph_id": "steps", "config": {"tags": "a,b"}}, "config.tags"),
    ("/assistants", {"graph_id": "steps", "name": "x" * 256}, "name"),
    ("/assistants/search", {"sort_by": "colour"}, "sort_by"),
    ("{thread}/runs", {}, "assistant_id"),
    ("{thread}/runs", [], "body"),
    ("{thread}/runs", {"assistant_id": 5}, "assistant_id"),
    ("{thread}/runs", {"assistant_id": "steps", "stream_mode": "everything"}, "stream_mode"),
    ("{thread}/runs", {"assistant_id": "steps", "multitask_strategy": "sometimes"}, "multitask_strategy"),
    ("{thread}/runs", {"assistant_id": "steps", "config": {"recursion_limit": 0}}, "config.recursion_limit"),
    ("{thread}/runs", {"assistant_id": "steps", "after_seconds": -1}, "after_seconds"),
    ("{thread}/runs", {"assistant_id": "steps", "after_seconds": 1e300}, "after_seconds"),
    ("{thread}/runs", {"assistant_id": "steps", "webhook": "ftp://x"}, "webhook"),
    ("{thread}/runs", {"assistant_id": "steps", "command": {"update": 3}}, "command.update"),
    ("{thread}/runs/wait", {"assistant_id": "steps", "checkpoint_id": "latest"}, "checkpoint_id"),
    ("{thread}/runs/stream", {"assistant_id": "steps", "interrupt_before": "s1"}, "interrupt_before"),
    ("/runs/batch", {"assistant_id": "steps"}, "body"),
    ("/runs/batch", [{"assistant_id": "steps"}, {"assistant_id": "steps", "durability": "maybe"}],
     "[1].durability"),
    ("/runs/cancel", {"status": "finished"}, "status"),
    ("{thread}/history", {"limit": 100_000}, "limit"),
    ("{thread}/history", {"metadata": {"a'b": 1}}, "metadata"),
    ("/store/items/search", {"namespace_prefix": "users"}, "namespace_prefix"),
    ("/store/namespaces", {"max_depth": 0}, "max_depth"),
]


@pytest.mark.parametrize(("path", "body", "field"), WRONG_TYPES)
async def test_wrong_types_are_422_naming_the_field(
    api: httpx.AsyncClient, path: str, body: Any, field: str
) -> None:
    tid = await make_thread(api, metadata={"probe": "wrong-types"})
    resp = await api.post(path.format(thread=f"/threads/{tid}"), json=body)
    expect_error(resp, 422, field)
    assert await runs_of(api, tid) == []
    assert (await api.get(f"/threads/{tid}")).json()["metadata"] == {"probe": "wrong-types"}


# (method, endpoint, body, field) — fields we do not know, or know but do not support.
UNSUPPORTED = [
    ("POST", "{thread}/runs", {"assistant_id": "steps", "bogus": 1}, "bogus"),
    ("POST", "{thread}/runs/wait", {"assistant_id": "steps", "config": {"bogus": 1}}, "config.bogus"),
    ("POST", "{thread}/runs/stream", {"assistant_id": "steps", "command": {"resume": 1, "bogus": 1}},
     "command.bogus"),
    ("POST", "{thread}/runs", {"assistant_id": "steps", "checkpoint": {"checkpoint_ns": "", "bogus": 1}},
     "checkpoint.bogus"),
    ("POST", "{thread}/runs", {"assistant_id": "steps", "on_disconnect": "cancel"}, "on_disconnect"),
    ("POST", "/runs", {"assistant_id": "steps", "on_disconnect": "cancel"}, "on_disconnect"),
    ("POST", "/runs/batch", [{"assistant_id": "steps", "bogus": 1}], "[0].bogus"),
    ("POST", "/threads", {"bogus": 1}, "bogus"),
    ("POST", "/threads", {"ttl": 60}, "ttl"),
    ("POST", "/threads", {"supersteps": [{"updates": []}]}, "supersteps"),
    ("PATCH", "{thread}", {"metadata": {"k": 1}, "bogus": 1}, "bogus"),
    ("PATCH", "{thread}", {"metadata": {"k": 1}, "ttl": {"ttl": 5}}, "ttl"),
    ("POST", "/threads/search", {"bogus": 1}, "bogus"),
    ("POST", "/threads/search", {"select": ["thread_id", "colour"]}, "select[1]"),
    ("POST", "{thread}/state", {"values": {"done": ["x"]}, "bogus": 1}, "bogus"),
    ("POST", "{thread}/history", {"bogus": 1}, "bogus"),
    ("POST", "/assistants", {"graph_id": "steps", "bogus": 1}, "bogus"),
    ("POST", "/assistants/search", {"select": ["colour"]}, "select[0]"),
    ("POST", "/store/items/search", {"query": "dark mode"}, "query"),
    ("PUT", "/store/items", {"namespace": ["probe"], "key": "k", "value": {}, "index": ["text"]}, "index"),
    ("PUT", "/store/items", {"namespace": ["probe"], "key": "k", "value": {}, "bogus": 1}, "bogus"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), UNSUPPORTED)
async def test_unsupported_fields_are_422_never_dropped(
    api: httpx.AsyncClient, method: str, path: str, body: Any, field: str
) -> None:
    tag = new_id()
    tid = await make_thread(api, metadata={"tag": tag})
    resp = await api.request(method, path.format(thread=f"/threads/{tid}"), json=body)
    detail = expect_error(resp, 422, field)
    assert "Internal" not in detail
    # Nothing was written: no run, the thread as it was, no second thread, no assistant, no item.
    assert await runs_of(api, tid) == []
    assert (await api.get(f"/threads/{tid}")).json()["metadata"] == {"tag": tag}
    assert await count_threads(api, {"tag": tag}) == 1
    assert (await api.get("/store/items", params={"namespace": "probe", "key": "k"})).status_code == 404


async def test_select_does_not_drop_requested_extract(api: httpx.AsyncClient) -> None:
    tag = new_id()
    tid = await make_thread(api, metadata={"tag": tag})
    await run_to_end(api, tid)
    found = await api.post("/threads/search", json={"metadata": {"tag": tag}, "select": ["thread_id"],
                                                    "extract": {"last": "$.done"}})
    assert found.status_code == 200, found.text
    assert found.json() == [{"thread_id": tid, "extracted": {"last": ["s1", "s2", "s3", "s4", "s5"]}}]


async def test_unsupported_run_field_on_new_thread_creates_no_thread(api: httpx.AsyncClient) -> None:
    tid = new_id()
    body = {"assistant_id": "steps", "if_not_exists": "create", "input": {}, "stream_resumable": "yes please"}
    for tail in ("runs", "runs/wait", "runs/stream"):
        expect_error(await api.post(f"/threads/{tid}/{tail}", json=body), 422, "stream_resumable")
    body = {"assistant_id": "steps", "if_not_exists": "create", "input": {}, "colour": "red"}
    expect_error(await api.post(f"/threads/{tid}/runs", json=body), 422, "colour")
    await assert_no_thread(api, tid)


# --- values that parse as JSON but could not be stored or sent back ------------------------------

UNSTORABLE = [
    ('{"metadata": {"k": "a\\u0000b"}}', "metadata.k", "NUL"),
    ('{"metadata": {"k\\u0000": 1}}', "metadata.k", "NUL"),
    ('{"metadata": {"k": "\\ud800"}}', "metadata.k", "surrogate"),
    ('{"metadata": {"k": NaN}}', "metadata.k", "NaN"),
    ('{"metadata": {"k": [1, -Infinity]}}', "metadata.k[1]", "NaN"),
    ('{"metadata": {"k": 123456789012345678901234567890}}', "metadata.k", "64 bits"),
    ('{"metadata": {"k": {"big": 1.5e20}}}', "metadata.k.big", "64-bit"),
    ('{"metadata": ' + '{"a": ' * 200 + "1" + "}" * 201, "metadata.a.a", "nested"),
]


@pytest.mark.parametrize(("text", "field", "reason"), UNSTORABLE)
async def test_unstorable_values_are_422_and_cannot_poison_reads(
    api: httpx.AsyncClient, text: str, field: str, reason: str
) -> None:
    tag = new_id()
    tid = await make_thread(api, metadata={"tag": tag})
    headers = {"content-type": "application/json"}
    expect_error(await api.post("/threads", content=text, headers=headers), 422, field, reason)
    expect_error(await api.patch(f"/threads/{tid}", content=text, headers=headers), 422, field, reason)
    run_body = '{"assistant_id": "steps", ' + text[1:]
    expect_error(await api.post(f"/threads/{tid}/runs", content=run_body, headers=headers), 422, field)
    expect_error(await api.post("/runs/batch", content=f"[{run_body}]", headers=headers), 422, f"[0].{field}")
    store_body = '{"namespace": ["probe"], "key": "k", "value": ' + text[len('{"metadata": '):]
    expect_error(await api.put("/store/items", content=store_body, headers=headers), 422, "value")
    # Nothing was stored, and every read still works (a stored bad value would break them all).
    assert (await api.get(f"/threads/{tid}")).json()["metadata"] == {"tag": tag}
    assert await runs_of(api, tid) == []
    found = await api.post("/threads/search", json={"metadata": {"tag": tag}})
    assert [t["thread_id"] for t in found.json()] == [tid]
    assert (await api.post("/threads/search", json={"limit": 100})).status_code == 200
    assert (await api.get("/store/items", params={"namespace": "probe", "key": "k"})).status_code == 404


async def test_query_values_the_database_cannot_take_are_422(api: httpx.AsyncClient) -> None:
    expect_error(await api.get("/store/items", params={"namespace": "a", "key": "k\x00"}), 422, "key")
    expect_error(await api.get("/store/items", params={"namespace": "a..b", "key": "k"}), 422, "namespace")
    expect_error(await api.get("/store/items", params={"namespace": "a", "key": "k" * 600}), 422, "key")
    tid = await make_thread(api)
    expect_error(await api.get(f"/threads/{tid}/runs", params={"offset": 2**70}), 422, "offset")
    expect_error(await api.get(f"/threads/{tid}/runs", params={"select": "colour"}), 422, "select")
    expect_error(await api.post("/assistants/steps/latest", params={"version": 2**40}), 422, "version")


async def test_store_rejects_bad_namespaces_and_keeps_nothing(api: httpx.AsyncClient) -> None:
    ns = f"probe-{uuid.uuid4().hex}"
    for body, field in [
        ({"namespace": [], "key": "k", "value": {}}, "namespace"),
        ({"namespace": [ns, ""], "key": "k", "value": {}}, "namespace[1]"),
        ({"namespace": [ns, "a.b"], "key": "k", "value": {}}, "namespace[1]"),
        ({"namespace": ["langgraph", ns], "key": "k", "value": {}}, "namespace"),
        ({"namespace": [ns], "key": "", "value": {}}, "key"),
        ({"namespace": [ns], "key": "k" * 513, "value": {}}, "key"),
        ({"namespace": [ns], "key": "k", "value": []}, "value"),
        ({"namespace": [ns], "key": "k", "value": {}, "ttl": 0}, "ttl"),
        ({"namespace": [ns], "key": "k", "value": {}, "ttl": 1e300}, "ttl"),
    ]:
        expect_error(await api.put("/store/items", json=body), 422, field)
    expect_error(await api.request("DELETE", "/store/items", json={"namespace": [""], "key": "k"}), 422,
                 "namespace[0]")
    expect_error(await api.post("/store/items/search", json={"namespace_prefix": [ns, ""]}), 422,
                 "namespace_prefix[1]")
    expect_error(await api.post("/store/namespaces", json={"suffix": ["a.b"]}), 422, "suffix[0]")
    listed = await api.post("/store/namespaces", json={"prefix": [ns]})
    assert listed.status_code == 200 and listed.json() == {"namespaces": []}


async def test_bad_stream_options_are_422(api: httpx.AsyncClient, server: Server) -> None:
    tid = await make_thread(api)
    await run_to_end(api, tid)
    rid = (await runs_of(api, tid))[0]["run_id"]
    stream = f"/threads/{tid}/runs/{rid}/stream"
    for value in ("abc", "1.5", "-5", str(2**70)):
        expect_error(await api.get(stream, headers={"Last-Event-ID": value}), 422, "Last-Event-ID")
    expect_error(await api.get(stream, params={"stream_mode": "everything"}), 422, "stream_mode")
    # The WebSocket twin reports the same mistake on the socket, then closes it.
    url = server.url.replace("http://", "ws://") + f"{stream.removesuffix('/stream')}/ws?last_event_id=%C2%B2"
    message, code = await ws_error(url)
    assert "Last-Event-ID" in message and code == 4422


# --- 409: busy thread with multitask_strategy=reject -------------------------------------------


async def test_busy_thread_rejects_with_409_and_writes_nothing(api: httpx.AsyncClient) -> None:
    tid = await make_thread(api, metadata={"probe": "busy"})
    first = (await api.post(f"/threads/{tid}/runs",
                            json={"assistant_id": "steps", "input": {}, "config": SLOW})).json()
    await wait_until_running(api, tid, first["run_id"])
    before = await history_ids(api, tid)
    for tail in ("runs", "runs/wait", "runs/stream"):
        resp = await api.post(f"/threads/{tid}/{tail}",
                              json={"assistant_id": "steps", "input": {}, "multitask_strategy": "reject"})
        expect_error(resp, 409, "already running")
    expect_error(await api.post(f"/threads/{tid}/state", json={"values": {"done": ["x"]}}), 409)
    expect_error(await api.delete(f"/threads/{tid}/runs/{first['run_id']}"), 409)
    # Only the first run exists, and it carries on undisturbed to the end.
    assert [r["run_id"] for r in await runs_of(api, tid)] == [first["run_id"]]
    out = await api.get(f"/threads/{tid}/runs/{first['run_id']}/join")
    assert out.json()["done"] == ["s1", "s2", "s3", "s4", "s5"]
    assert (await api.get(f"/threads/{tid}/runs/{first['run_id']}")).json()["status"] == "success"
    after = await history_ids(api, tid)
    assert after[len(after) - len(before):] == before  # only the first run's own checkpoints were added
    thread = (await api.get(f"/threads/{tid}")).json()
    assert thread["status"] == "idle" and thread["metadata"]["probe"] == "busy"


# --- checkpoints that are not there -------------------------------------------------------------


async def test_unknown_checkpoint_is_404_and_forks_nothing(api: httpx.AsyncClient) -> None:
    tid = await make_thread(api)
    await run_to_end(api, tid)
    before = await history_ids(api, tid)
    cid = new_id()
    expect_error(await api.get(f"/threads/{tid}/state/{cid}"), 404, "checkpoint", cid)
    expect_error(await api.post(f"/threads/{tid}/state/checkpoint", json={"checkpoint": {"checkpoint_id": cid}}),
                 404, "checkpoint")
    expect_error(await api.post(f"/threads/{tid}/state", json={"values": {"done": ["x"]}, "checkpoint_id": cid}),
                 404, "checkpoint")
    for tail in ("runs", "runs/wait", "runs/stream"):
        expect_error(await api.post(f"/threads/{tid}/{tail}",
                                    json={"assistant_id": "steps", "input": None, "checkpoint_id": cid}),
                     404, "checkpoint")
    resp = await api.post(f"/threads/{tid}/runs",
                          json={"assistant_id": "steps", "checkpoint": {"checkpoint_id": cid}})
    expect_error(resp, 404, "checkpoint")
    # A checkpoint reference must point into the thread in the path.
    other = await make_thread(api)
    ref = {"thread_id": other, "checkpoint_ns": "", "checkpoint_id": before[0]}
    expect_error(await api.post(f"/threads/{tid}/state/checkpoint", json={"checkpoint": ref}), 422,
                 "checkpoint.thread_id")
    expect_error(await api.post(f"/threads/{tid}/runs", json={"assistant_id": "steps", "checkpoint": ref}), 422,
                 "checkpoint.thread_id")
    expect_error(await api.post(f"/threads/{tid}/history", json={"before": ref}), 422, "before.thread_id")
    # A stateless run has no checkpoints at all.
    expect_error(await api.post("/runs", json={"assistant_id": "steps", "checkpoint_id": before[0]}), 422,
                 "checkpoint_id")
    assert len(await runs_of(api, tid)) == 1
    assert await history_ids(api, tid) == before


async def test_bad_state_update_is_422_and_writes_no_checkpoint(api: httpx.AsyncClient) -> None:
    tid = await make_thread(api)
    await run_to_end(api, tid)
    before = await history_ids(api, tid)
    detail = expect_error(await api.post(f"/threads/{tid}/state",
                                         json={"values": {"done": ["x"]}, "as_node": "no_such_node"}),
                          422, "no_such_node")
    assert "as_node" in detail or "does not exist" in detail
    expect_error(await api.post(f"/threads/{tid}/state", json={"values": [1, 2]}), 422)
    expect_error(await api.post(f"/threads/{tid}/state", json={"values": {"done": 5}}), 422)
    assert await history_ids(api, tid) == before
    # A thread that never ran has no graph to take an update.
    fresh = await make_thread(api)
    expect_error(await api.post(f"/threads/{fresh}/state", json={"values": {"done": ["x"]}}), 422, "graph")


# --- /runs/batch is all or nothing --------------------------------------------------------------


async def test_failed_batch_creates_no_run(api: httpx.AsyncClient) -> None:
    made = await api.post("/assistants", json={"graph_id": "steps", "name": "batch-probe"})
    aid = made.json()["assistant_id"]
    good = {"assistant_id": aid, "input": {}, "on_completion": "keep", "after_seconds": 30}
    for bad, status, field in [
        ({"assistant_id": new_id(), "input": {}}, 404, "assistant"),
        ({"assistant_id": aid, "input": {}, "bogus": 1}, 422, "[1].bogus"),
        ({"assistant_id": aid, "command": {"resume": "yes"}}, 422, "thread_id"),
        ({"assistant_id": aid, "input": {"x": 1}, "command": {"goto": "s1"}}, 422, "command"),
        ({"assistant_id": aid, "checkpoint_id": new_id()}, 422, "checkpoint_id"),
        ({"assistant_id": aid, "on_disconnect": "cancel"}, 422, "on_disconnect"),
    ]:
        expect_error(await api.post("/runs/batch", json=[good, bad, good]), status, field)
        # Stateless runs live on a temporary thread stamped with the assistant: there is none.
        assert await count_threads(api, {"assistant_id": aid}) == 0
    # The same items without the bad one are accepted, so the counting above would see them.
    created = await api.post("/runs/batch", json=[good, good])
    assert created.status_code == 200 and len(created.json()) == 2
    assert await count_threads(api, {"assistant_id": aid}) == 2
    cancelled = await api.post("/runs/cancel", json={"run_ids": [r["run_id"] for r in created.json()]})
    assert cancelled.status_code == 204
