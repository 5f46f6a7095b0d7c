"""The server driven through the official langgraph-sdk client, as a new user would."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError


async def test_default_assistants_and_graph_ids(client: LangGraphClient) -> None:
    found = await client.assistants.search(metadata={"created_by": "system"}, limit=100)
    by_graph = {a["graph_id"]: a for a in found}
    assert {"chat", "steps", "approval", "greeter"} <= set(by_graph)
    assert by_graph["chat"]["assistant_id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "chat"))
    # A graph id works wherever an assistant id does.
    assert (await client.assistants.get("chat"))["assistant_id"] == by_graph["chat"]["assistant_id"]


async def test_assistant_lifecycle_and_versions(client: LangGraphClient) -> None:
    a = await client.assistants.create("greeter", config={"configurable": {"greeting": "hi"}}, name="Greeter")
    assert a["version"] == 1 and a["name"] == "Greeter"
    b = await client.assistants.update(a["assistant_id"], config={"configurable": {"greeting": "hey"}},
                                       metadata={"team": "x"})
    assert b["version"] == 2 and b["metadata"]["team"] == "x"
    versions = await client.assistants.get_versions(a["assistant_id"])
    assert [v["version"] for v in versions] == [2, 1]
    # The factory sees the assistant's config.
    t = await client.threads.create()
    out = await client.runs.wait(t["thread_id"], a["assistant_id"], input={"value": "bob"})
    assert out["value"] == "hey bob"
    back = await client.assistants.set_latest(a["assistant_id"], 1)
    assert back["version"] == 1 and back["config"]["configurable"]["greeting"] == "hi"
    assert await client.assistants.count(graph_id="greeter") >= 2
    schemas = await client.assistants.get_schemas("steps")
    assert "done" in schemas["output_schema"]["properties"]
    drawn = await client.assistants.get_graph("steps")
    assert {n["id"] for n in drawn["nodes"]} >= {"s1", "s5"}
    with pytest.raises(ConflictError):
        await client.assistants.create("greeter", assistant_id=a["assistant_id"])
    await client.assistants.delete(a["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(a["assistant_id"])


async def test_threads_crud_search_copy(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    t = await client.threads.create(metadata={"tag": tag})
    assert t["status"] == "idle"
    await client.threads.update(t["thread_id"], metadata={"more": 1})
    got = await client.threads.get(t["thread_id"])
    assert got["metadata"] == {"tag": tag, "more": 1}
    await client.runs.wait(t["thread_id"], "steps", input={"done": []})
    found = await client.threads.search(metadata={"tag": tag})
    assert [x["thread_id"] for x in found] == [t["thread_id"]]
    assert found[0]["values"]["done"] == ["s1", "s2", "s3", "s4", "s5"]
    assert await client.threads.count(metadata={"tag": tag}) == 1
    copy = await client.threads.copy(t["thread_id"])
    state = await client.threads.get_state(copy["thread_id"])
    assert state["values"]["done"] == ["s1", "s2", "s3", "s4", "s5"]
    assert len(await client.threads.get_history(copy["thread_id"], limit=100)) == len(
        await client.threads.get_history(t["thread_id"], limit=100)
    )
    await client.threads.delete(t["thread_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(t["thread_id"])


async def test_stream_modes_and_token_by_token_messages(client: LangGraphClient) -> None:
    t = await client.threads.create()
    parts = [
        p async for p in client.runs.stream(
            t["thread_id"], "chat", input={"messages": [{"role": "user", "content": "the quick brown fox"}]},
            stream_mode=["values", "updates", "messages-tuple"],
        )
    ]
    assert parts[0].event == "metadata" and "run_id" in parts[0].data
    events = [p.event for p in parts]
    assert "values" in events and "updates" in events
    tokens = [p.data[0]["content"] for p in parts if p.event == "messages" and p.data[0]["content"]]
    assert tokens == ["Echo:", " the", " quick", " brown", " fox"]
    meta = next(p.data[1] for p in parts if p.event == "messages")
    assert meta["langgraph_node"] == "respond"
    final = [p for p in parts if p.event == "values"][-1].data
    assert final["messages"][-1]["content"] == "Echo: the quick brown fox"
    assert final["messages"][-1]["type"] == "ai"


async def test_legacy_messages_mode_accumulates(client: LangGraphClient) -> None:
    t = await client.threads.create()
    parts = [
        p async for p in client.runs.stream(
            t["thread_id"], "chat", input={"messages": [{"role": "user", "content": "a b"}]},
            stream_mode="messages",
        )
    ]
    partial = [p.data[0]["content"] for p in parts if p.event == "messages/partial"]
    assert partial == ["Echo:", "Echo: a", "Echo: a b"]
    assert any(p.event == "messages/metadata" for p in parts)


async def test_custom_debug_events_and_subgraph_modes(client: LangGraphClient) -> None:
    t = await client.threads.create()
    parts = [
        p async for p in client.runs.stream(t["thread_id"], "nested", input={"value": "x"},
                                            stream_mode=["updates", "debug"], stream_subgraphs=True)
    ]
    names = [p.event for p in parts]
    assert any(n.startswith("updates|child:") for n in names), names
    assert "debug" in names
    dbg = next(p.data for p in parts if p.event == "debug")
    assert {"type", "step", "payload"} <= set(dbg)
    t2 = await client.threads.create()
    ev = [p async for p in client.runs.stream(t2["thread_id"], "steps", input={}, stream_mode="events")]
    kinds = {p.data["event"] for p in ev if p.event == "events"}
    assert "on_chain_start" in kinds and "on_chain_end" in kinds


async def test_background_run_then_join_and_list(client: LangGraphClient) -> None:
    t = await client.threads.create()
    run = await client.runs.create(t["thread_id"], "steps", input={})
    assert run["status"] == "pending"
    out = await client.runs.join(t["thread_id"], run["run_id"])
    assert out["done"] == ["s1", "s2", "s3", "s4", "s5"]
    got = await client.runs.get(t["thread_id"], run["run_id"])
    assert got["status"] == "success"
    listed = await client.runs.list(t["thread_id"])
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    assert (await client.threads.get(t["thread_id"]))["status"] == "idle"


async def test_join_stream_replays_with_last_event_id(client: LangGraphClient) -> None:
    t = await client.threads.create()
    run = await client.runs.create(t["thread_id"], "steps", input={}, stream_mode=["updates"],
                                   config={"configurable": {"delay": 0.05}})
    await client.runs.join(t["thread_id"], run["run_id"])
    allparts = [p async for p in client.runs.join_stream(t["thread_id"], run["run_id"], last_event_id="-1")]
    updates = [next(iter(p.data)) for p in allparts if p.event == "updates"]
    assert updates == ["s1", "s2", "s3", "s4", "s5"]
    ids = [int(p.id) for p in allparts]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    later = [p async for p in client.runs.join_stream(t["thread_id"], run["run_id"], last_event_id=str(ids[2]))]
    assert [int(p.id) for p in later] == ids[3:]


async def test_interrupt_inspect_resume(client: LangGraphClient) -> None:
    t = await client.threads.create()
    out = await client.runs.wait(t["thread_id"], "approval", input={"request": "laptop", "amount": 500})
    assert out["__interrupt__"][0]["value"]["amount"] == 500
    thread = await client.threads.get(t["thread_id"])
    assert thread["status"] == "interrupted"
    assert next(iter(thread["interrupts"].values()))[0]["value"]["question"] == "Approve this request?"
    state = await client.threads.get_state(t["thread_id"])
    assert state["next"] == ["review"]
    assert state["tasks"][0]["interrupts"][0]["value"]["request"] == "laptop"
    parts = [
        p async for p in client.runs.stream(t["thread_id"], "approval",
                                            command={"resume": {"approved": True, "by": "alice"}},
                                            stream_mode="updates")
    ]
    review = [p.data["review"] for p in parts if p.event == "updates" and "review" in p.data]
    assert review[0]["decision"] == "approved" and review[0]["decided_by"] == "alice"
    assert (await client.threads.get(t["thread_id"]))["status"] == "idle"


async def test_resume_by_interrupt_id_and_stream_v2(client: LangGraphClient) -> None:
    t = await client.threads.create()
    parts = [p async for p in client.runs.stream(t["thread_id"], "approval", input={"amount": 700},
                                                 stream_mode="values")]
    intr = [p.data["__interrupt__"] for p in parts if p.event == "values" and "__interrupt__" in p.data]
    assert intr and intr[0][0]["id"]
    out = await client.runs.wait(t["thread_id"], "approval",
                                 command={"resume": {intr[0][0]["id"]: {"approved": False, "by": "bob"}}})
    assert out["decision"] == "rejected" and out["decided_by"] == "bob"


async def test_interrupt_before_breakpoint_then_continue(client: LangGraphClient) -> None:
    t = await client.threads.create()
    await client.runs.wait(t["thread_id"], "steps", input={}, interrupt_before=["s3"])
    state = await client.threads.get_state(t["thread_id"])
    assert state["next"] == ["s3"] and state["values"]["done"] == ["s1", "s2"]
    assert (await client.threads.get(t["thread_id"]))["status"] == "interrupted"
    out = await client.runs.wait(t["thread_id"], "steps", input=None)
    assert out["done"] == ["s1", "s2", "s3", "s4", "s5"]


async def test_state_history_update_and_fork(client: LangGraphClient) -> None:
    t = await client.threads.create()
    await client.runs.wait(t["thread_id"], "approval", input={"request": "chair", "amount": 50})
    history = await client.threads.get_history(t["thread_id"], limit=20)
    assert history[0]["values"]["decision"] == "approved"
    assert history[-1]["metadata"]["source"] == "input"
    # Edit the state as if `check` had routed the request to a person.
    res = await client.threads.update_state(t["thread_id"], {"amount": 5000}, as_node="check")
    assert res["checkpoint"]["checkpoint_id"]
    state = await client.threads.get_state(t["thread_id"])
    assert state["values"]["amount"] == 5000
    at = await client.threads.get_state(t["thread_id"], checkpoint_id=history[0]["checkpoint"]["checkpoint_id"])
    assert at["values"]["amount"] == 50
    # Time travel: re-run from the first checkpoint with the original input.
    first = history[-1]["checkpoint"]["checkpoint_id"]
    out = await client.runs.wait(t["thread_id"], "approval", input=None, checkpoint_id=first)
    assert out["decision"] == "approved"


async def test_cancel_running_run(client: LangGraphClient) -> None:
    t = await client.threads.create()
    run = await client.runs.create(t["thread_id"], "steps", input={}, config={"configurable": {"delay": 0.5}})
    for _ in range(100):
        if (await client.runs.get(t["thread_id"], run["run_id"]))["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await client.runs.cancel(t["thread_id"], run["run_id"], wait=True)
    got = await client.runs.get(t["thread_id"], run["run_id"])
    assert got["status"] == "interrupted"
    state = await client.threads.get_state(t["thread_id"])
    assert len(state["values"].get("done", [])) < 5


async def test_cancel_with_rollback_removes_run(client: LangGraphClient) -> None:
    t = await client.threads.create()
    await client.runs.wait(t["thread_id"], "steps", input={})
    before = await client.threads.get_state(t["thread_id"])
    run = await client.runs.create(t["thread_id"], "steps", input={}, config={"configurable": {"delay": 0.3}})
    for _ in range(100):
        if (await client.runs.get(t["thread_id"], run["run_id"]))["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.4)
    await client.runs.cancel(t["thread_id"], run["run_id"], action="rollback")
    for _ in range(100):
        runs = await client.runs.list(t["thread_id"])
        if run["run_id"] not in [r["run_id"] for r in runs]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("rolled-back run still listed")
    after = await client.threads.get_state(t["thread_id"])
    assert after["checkpoint"]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]


async def test_error_event_and_wait_raises(client: LangGraphClient) -> None:
    t = await client.threads.create()
    parts = [p async for p in client.runs.stream(t["thread_id"], "failing", input={"value": "x"})]
    err = [p.data for p in parts if p.event == "error"]
    assert err and err[0]["error"] == "ValueError" and "cannot handle" in err[0]["message"]
    assert (await client.threads.get(t["thread_id"]))["status"] == "error"
    with pytest.raises(Exception, match="ValueError"):
        await client.runs.wait(t["thread_id"], "failing", input={"value": "y"})


async def test_multitask_reject_and_enqueue(client: LangGraphClient) -> None:
    t = await client.threads.create()
    slow = {"configurable": {"delay": 0.2}}
    first = await client.runs.create(t["thread_id"], "steps", input={}, config=slow)
    with pytest.raises(ConflictError):
        await client.runs.create(t["thread_id"], "steps", input={}, multitask_strategy="reject")
    second = await client.runs.create(t["thread_id"], "steps", input={}, multitask_strategy="enqueue")
    out = await client.runs.join(t["thread_id"], second["run_id"])
    assert out["done"] == ["s1", "s2", "s3", "s4", "s5"] * 2
    assert (await client.runs.get(t["thread_id"], first["run_id"]))["status"] == "success"


async def test_multitask_interrupt(client: LangGraphClient) -> None:
    t = await client.threads.create()
    first = await client.runs.create(t["thread_id"], "steps", input={}, config={"configurable": {"delay": 0.5}})
    await asyncio.sleep(0.3)
    second = await client.runs.create(t["thread_id"], "steps", input={}, multitask_strategy="interrupt")
    await client.runs.join(t["thread_id"], second["run_id"])
    assert (await client.runs.get(t["thread_id"], first["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(t["thread_id"], second["run_id"]))["status"] == "success"


async def test_if_not_exists_create_and_reject(client: LangGraphClient) -> None:
    tid = str(uuid.uuid4())
    with pytest.raises(NotFoundError):
        await client.runs.create(tid, "steps", input={})
    out = await client.runs.wait(tid, "steps", input={}, if_not_exists="create")
    assert out["done"][-1] == "s5"
    assert (await client.threads.get(tid))["metadata"]["graph_id"] == "steps"


async def test_stateless_runs(client: LangGraphClient) -> None:
    out = await client.runs.wait(None, "greeter", input={"value": "there"})
    assert out == {"value": "hello there"}
    parts = [p async for p in client.runs.stream(None, "steps", input={}, stream_mode="updates")]
    assert [next(iter(p.data)) for p in parts if p.event == "updates"] == ["s1", "s2", "s3", "s4", "s5"]
    batch = await client.runs.create_batch([{"assistant_id": "steps", "input": {}}, {"assistant_id": "greeter", "input": {}}])
    assert len(batch) == 2 and all(r["status"] == "pending" for r in batch)


async def test_store_put_get_search_delete(client: LangGraphClient) -> None:
    ns = ["users", uuid.uuid4().hex]
    await client.store.put_item(ns, "prefs", {"theme": "dark", "size": 3})
    await client.store.put_item(ns, "other", {"theme": "light", "size": 9})
    item = await client.store.get_item(ns, "prefs")
    assert item["value"] == {"theme": "dark", "size": 3}
    found = await client.store.search_items(ns, filter={"theme": "dark"})
    assert [i["key"] for i in found["items"]] == ["prefs"]
    big = await client.store.search_items([ns[0]], filter={"size": {"$gt": 5}})
    assert [i["key"] for i in big["items"]] == ["other"]
    spaces = await client.store.list_namespaces(prefix=[ns[0]])
    assert ns in spaces["namespaces"]
    await client.store.delete_item(ns, "prefs")
    with pytest.raises(NotFoundError):
        await client.store.get_item(ns, "prefs")
