"""Security suite: forged and stale Clerk tokens, webhook replays, tenant isolation on every
resource, permissions, API keys and sessions, and no secret in logs or in the database.

A real `nexod serve` in clerk mode; tokens are signed with an RSA key made here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import pg_admin_url
from tests.identity import ClerkDouble, membership_event
from tests.servers import TEST_GRAPHS, Server, postgres_database

SECRETS: list[str] = []  # every key and token handed out: none may be stored or logged


@pytest.fixture(scope="module")
def clerk() -> ClerkDouble:
    return ClerkDouble()


@pytest.fixture(scope="module")
def secure_server(clerk: ClerkDouble, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("secure"), extra_env={**clerk.env(), "NEXOD_LOG_LEVEL": "debug"})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(secure_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=secure_server.url, timeout=30) as c:
        yield c


def bearer(clerk: ClerkDouble, user: str, org: str | None = None, role: str = "org:admin",
           **claims: Any) -> dict[str, str]:
    tok = clerk.token(user, org, role, **claims)
    SECRETS.append(tok)
    return {"Authorization": f"Bearer {tok}"}


# --- tokens ---------------------------------------------------------------------------------


def test_token_checks(clerk: ClerkDouble, secure_server: Server) -> None:
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = clerk.token("user_1", "org_t")
    head, _payload, sig = good.split(".")
    tampered_payload = clerk.token("user_admin", "org_t", "org:admin").split(".")[1]
    refused = {
        "expired": (clerk.token("user_1", "org_t", exp=now - 60, iat=now - 120), "expired"),
        "not yet valid": (clerk.token("user_1", "org_t", nbf=now + 120), "not valid yet"),
        "wrongly signed": (clerk.token("user_1", "org_t", key=other_key), "signature"),
        "tampered": (f"{head}.{tampered_payload}.{sig}", "signature"),
        "wrong issuer": (clerk.token("user_1", "org_t", iss="https://evil.clerk.test"), "issuer"),
        "wrong azp": (clerk.token("user_1", "org_t", azp="https://evil.example"), "azp"),
        "no azp": (clerk.token("user_1", "org_t", azp=None), "azp"),
        "pending session": (clerk.token("user_1", "org_t", sts="pending"), "pending"),
        "garbage": ("not-a-jwt", "malformed"),
        "hs256 with the public key": (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "not valid"),
    }
    for name, (tok, why) in refused.items():
        r = httpx.get(f"{secure_server.url}/auth/me", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401, (name, r.text)
        assert why in r.json()["detail"] or name.startswith("hs256"), (name, r.text)
    r = httpx.get(f"{secure_server.url}/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"org_id": "org_t", "subject": "user_1", "kind": "clerk", "role": "member",
                        "permissions": ["approve", "read", "run", "write"]}
    # Small clock skew is tolerated (leeway 5 s).
    skewed = clerk.token("user_1", "org_t", nbf=now + 3)
    assert httpx.get(f"{secure_server.url}/auth/me", headers={"Authorization": f"Bearer {skewed}"}).status_code == 200
    # The __session cookie works like the header; no credential at all is a 401.
    r = httpx.get(f"{secure_server.url}/auth/me", cookies={"__session": good})
    assert r.status_code == 200 and r.json()["org_id"] == "org_t"
    assert httpx.get(f"{secure_server.url}/threads/{uuid.uuid4()}").status_code == 401
    SECRETS.extend(t for t, _ in refused.values())
    SECRETS.extend([good, skewed])


def test_v2_org_permissions_and_personal_org(clerk: ClerkDouble, secure_server: Server) -> None:
    from nexod.auth.clerk import decode_permissions

    claims = {"fea": "o:dashboard,o:teams", "o": {"id": "org_x", "per": "manage,read", "fpm": "3,2"}}
    assert decode_permissions(claims) == ["org:dashboard:manage", "org:dashboard:read", "org:teams:read"]
    r = httpx.get(f"{secure_server.url}/auth/me", headers=bearer(clerk, "user_solo"))
    assert r.json()["org_id"] == "personal:user_solo" and r.json()["role"] == "admin"


# --- webhooks -------------------------------------------------------------------------------


async def test_webhooks_verified_idempotent_and_change_roles(
    clerk: ClerkDouble, http: httpx.AsyncClient
) -> None:
    org, user = f"org_{uuid.uuid4().hex[:8]}", f"user_{uuid.uuid4().hex[:8]}"

    async def role() -> str:
        r = await http.get("/auth/me", headers=bearer(clerk, user, org, "org:member"))
        return str(r.json()["role"])

    assert await role() == "member"
    body, headers = clerk.webhook(membership_event("updated", org, user, "org:admin"))
    # Refused: wrong signature, stale and future timestamps, missing headers: nothing changes.
    bad_sig = {**headers, "svix-signature": clerk.webhook(membership_event("updated", org, user, "org:admin"),
                                                        secret="whsec_" + "A" * 32)[1]["svix-signature"]}
    for h in (bad_sig, clerk.webhook(membership_event("updated", org, user, "org:admin"), at=time.time() - 400)[1],
              clerk.webhook(membership_event("updated", org, user, "org:admin"), at=time.time() + 400)[1],
              {"content-type": "application/json"}):
        b = body if h is bad_sig or "svix-id" not in h else clerk.webhook(
            membership_event("updated", org, user, "org:admin"), msg_id=h["svix-id"], at=int(h["svix-timestamp"]))[0]
        r = await http.post("/webhooks/clerk", content=b, headers=h)
        assert r.status_code == 400, r.text
    tampered = body.replace(b"org:admin", b"org:owner")
    assert (await http.post("/webhooks/clerk", content=tampered, headers=headers)).status_code == 400
    assert await role() == "member"
    # A good delivery applies; the same svix-id again is a no-op.
    r = await http.post("/webhooks/clerk", content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"ok": True, "duplicate": False}
    assert await role() == "admin"
    demote, demote_headers = clerk.webhook(membership_event("updated", org, user, "org:viewer"))
    replay = await http.post("/webhooks/clerk", content=body, headers=headers)
    assert replay.json()["duplicate"] is True
    assert (await http.post("/webhooks/clerk", content=demote, headers=demote_headers)).status_code == 200
    assert await role() == "viewer"
    assert (await http.post("/webhooks/clerk", content=body, headers=headers)).json()["duplicate"] is True
    assert await role() == "viewer"
    # A viewer reads but does not write.
    h = bearer(clerk, user, org, "org:member")
    assert (await http.post("/threads/search", json={}, headers=h)).status_code == 200
    r = await http.post("/threads", json={}, headers=h)
    assert r.status_code == 403 and "write" in r.json()["detail"]
    # Removed from the organisation: the token still names it (Clerk's last minute), refused
    # at once; re-added, it works again; a deleted user's last tokens are refused too.
    removed, removed_headers = clerk.webhook(membership_event("deleted", org, user))
    assert (await http.post("/webhooks/clerk", content=removed, headers=removed_headers)).status_code == 200
    r = await http.post("/threads/search", json={}, headers=h)
    assert r.status_code == 401 and "removed" in r.json()["detail"], r.text
    added, added_headers = clerk.webhook(membership_event("created", org, user, "org:member"))
    assert (await http.post("/webhooks/clerk", content=added, headers=added_headers)).status_code == 200
    assert await role() == "member"
    gone, gone_headers = clerk.webhook({"type": "user.deleted", "object": "event",
                                        "data": {"id": user, "deleted": True}})
    assert (await http.post("/webhooks/clerk", content=gone, headers=gone_headers)).status_code == 200
    assert (await http.get("/auth/me", headers=h)).status_code == 401


# --- tenants --------------------------------------------------------------------------------


async def _tenant_probe(base: str, clerk: ClerkDouble) -> None:
    a = bearer(clerk, "user_a", "org_a")
    b = bearer(clerk, "user_b", "org_b")
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        asst = (await c.post("/assistants", json={"graph_id": "steps", "name": "secret-agent"}, headers=a)).json()
        aid = asst["assistant_id"]
        thread = (await c.post("/threads", json={"metadata": {"owner": "a"}}, headers=a)).json()
        tid = thread["thread_id"]
        r = await c.post(f"/threads/{tid}/runs/wait", json={"assistant_id": aid, "input": {}}, headers=a)
        assert r.status_code == 200, r.text
        run = (await c.get(f"/threads/{tid}/runs", headers=a)).json()[0]
        rid = run["run_id"]
        item = {"namespace": ["docs", "a"], "key": "k1", "value": {"text": "tenant a only"}}
        assert (await c.put("/store/items", json=item, headers=a)).status_code == 204
        key = (await c.post("/auth/keys", json={"name": "a-key"}, headers=a)).json()
        SECRETS.append(key["key"])
        assert (await c.put(f"/assistants/{aid}/permissions", json={"user_id": "user_a2", "permissions": ["run"]},
                            headers=a)).status_code == 200
        default_a = (await c.get("/assistants/steps", headers=a)).json()["assistant_id"]
        doc = (await c.post("/knowledge/documents", headers=a, json={
            "source": "a-plans.md", "text": "tenant a only: the merger closes in spring."})).json()
        assert (await c.post("/knowledge/documents", headers=b, json={
            "source": "b-notes.md", "text": "Tenant b notes about the merger timeline."})).status_code == 201

        must_404 = [
            ("GET", f"/assistants/{aid}", None), ("PATCH", f"/assistants/{aid}", {"name": "x"}),
            ("DELETE", f"/assistants/{aid}", None), ("POST", f"/assistants/{aid}/versions", {}),
            ("POST", f"/assistants/{aid}/latest", {"version": 1}), ("GET", f"/assistants/{aid}/graph", None),
            ("GET", f"/assistants/{aid}/schemas", None), ("GET", f"/assistants/{aid}/subgraphs", None),
            ("GET", f"/assistants/{aid}/permissions", None),
            ("PUT", f"/assistants/{aid}/permissions", {"user_id": "user_b", "permissions": ["run"]}),
            ("GET", f"/assistants/{default_a}", None),
            ("GET", f"/threads/{tid}", None), ("PATCH", f"/threads/{tid}", {"metadata": {"x": 1}}),
            ("DELETE", f"/threads/{tid}", None), ("POST", f"/threads/{tid}/copy", None),
            ("GET", f"/threads/{tid}/state", None), ("POST", f"/threads/{tid}/state", {"values": {}}),
            ("POST", f"/threads/{tid}/history", {}), ("GET", f"/threads/{tid}/history", None),
            ("GET", f"/threads/{tid}/stream", None),
            ("GET", f"/threads/{tid}/runs", None), ("GET", f"/threads/{tid}/runs/{rid}", None),
            ("GET", f"/threads/{tid}/runs/{rid}/join", None), ("GET", f"/threads/{tid}/runs/{rid}/stream", None),
            ("POST", f"/threads/{tid}/runs/{rid}/cancel", None), ("DELETE", f"/threads/{tid}/runs/{rid}", None),
            ("POST", f"/threads/{tid}/runs", {"assistant_id": "steps", "input": {}}),
            ("POST", "/runs/wait", {"assistant_id": aid, "input": {}}),
            ("POST", "/runs", {"assistant_id": aid, "input": {}}),
            ("DELETE", f"/auth/keys/{key['key_id']}", None),
            ("GET", "/store/items?namespace=docs.a&key=k1", None),
            ("GET", f"/knowledge/documents/{doc['document_id']}", None),
            ("DELETE", f"/knowledge/documents/{doc['document_id']}", None),
        ]
        for method, path, body in must_404:
            r = await c.request(method, path, json=body, headers=b)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
        # Lists and searches show nothing of tenant A.
        listed = [
            await c.post("/assistants/search", json={"limit": 100}, headers=b),
            await c.post("/threads/search", json={"limit": 100}, headers=b),
            await c.post("/store/items/search", json={"namespace_prefix": ["docs"]}, headers=b),
            await c.post("/store/namespaces", json={}, headers=b),
            await c.get("/auth/keys", headers=b),
            await c.get("/knowledge/documents", headers=b),
            await c.post("/knowledge/search", json={"query": "tenant merger spring"}, headers=b),
            await c.post("/knowledge/search", json={"query": "tenant merger", "mode": "keyword"}, headers=b),
        ]
        for r in listed:
            assert r.status_code == 200, r.text
            for secret in (aid, tid, "tenant a only", "secret-agent", key["key_id"], '"a"', "a-plans",
                           doc["document_id"]):
                assert secret not in r.text, (r.request.url, r.text)
        # Budgets: each organisation reads its own; only the operator (local admins) sets them.
        assert (await c.get("/budget", headers=b)).json()["org_id"] == "org_b"
        for method, path, body in (("GET", "/budgets/org_a", None), ("PUT", "/budgets/org_b", {"tokens": 9}),
                                   ("DELETE", "/budgets/org_a", None)):
            r = await c.request(method, path, json=body, headers=b)
            assert r.status_code == 403 and "local organisation" in r.text, (method, path, r.text)
        # b's own defaults: one per graph of the test config
        defaults = len(json.loads(TEST_GRAPHS.read_text())["graphs"])
        assert (await c.post("/assistants/count", json={}, headers=b)).json() == defaults
        assert (await c.post("/threads/count", json={}, headers=b)).json() == 0
        # Bulk cancel of A's run ids touches nothing; deleting a store item is scoped.
        await c.post("/runs/cancel", json={"thread_id": tid, "run_ids": [rid]}, headers=b)
        await c.request("DELETE", "/store/items", json={"namespace": ["docs", "a"], "key": "k1"}, headers=b)
        assert (await c.get("/store/items?namespace=docs.a&key=k1", headers=a)).status_code == 200
        # The graph id resolves to each tenant's own default assistant.
        assert (await c.get("/assistants/steps", headers=b)).json()["assistant_id"] != default_a
        # A's key does not open B's data; B's caller cannot follow A's run over WebSocket.
        assert (await c.get(f"/threads/{tid}", headers={"x-api-key": key["key"]})).status_code == 200
        ws_url = base.replace("http://", "ws://") + f"/threads/{tid}/runs/{rid}/ws?last_event_id=-1"
        async with websockets.connect(ws_url, additional_headers=b) as ws:
            await ws.recv()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
        async with websockets.connect(ws_url) as ws:
            await ws.recv()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with websockets.connect(ws_url, additional_headers=a) as ws:
            events = [m async for m in ws]
        assert events and '"metadata"' in str(events[0])


async def test_tenants_see_nothing_of_each_other(clerk: ClerkDouble, secure_server: Server) -> None:
    await _tenant_probe(secure_server.url, clerk)


@pytest.mark.postgres
async def test_tenants_see_nothing_of_each_other_on_postgres(
    clerk: ClerkDouble, tmp_path: Path
) -> None:
    with postgres_database(pg_admin_url()) as url:
        srv = Server(tmp_path, database_url=url, extra_env=clerk.env())
        srv.start()
        try:
            await _tenant_probe(srv.url, clerk)
            async with httpx.AsyncClient(base_url=srv.url, timeout=60) as c:
                await _taken_id_probe(c, clerk)
        finally:
            srv.stop()


async def test_create_under_a_taken_id_is_one_answer_whoever_holds_it(
    clerk: ClerkDouble, http: httpx.AsyncClient
) -> None:
    """Ids are global: a create under another tenant's id answers exactly as a duplicate of
    one's own does (409, same body), returns and changes nothing of it, on every create path."""
    await _taken_id_probe(http, clerk)


async def _taken_id_probe(http: httpx.AsyncClient, clerk: ClerkDouble) -> None:
    a = bearer(clerk, "user_ida", f"org_{uuid.uuid4().hex[:8]}")
    b = bearer(clerk, "user_idb", f"org_{uuid.uuid4().hex[:8]}")
    tid, aid = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await http.post("/threads", json={"thread_id": tid, "metadata": {"owner": "a"}}, headers=a)).status_code == 200
    assert (await http.post("/assistants", json={"assistant_id": aid, "graph_id": "steps", "name": "a-only"},
                            headers=a)).status_code == 200
    own_thread = await http.post("/threads", json={"thread_id": tid}, headers=a)
    own_assistant = await http.post("/assistants", json={"assistant_id": aid, "graph_id": "steps"}, headers=a)
    assert own_thread.status_code == own_assistant.status_code == 409
    assert (await http.post("/threads", json={"thread_id": tid, "if_exists": "do_nothing"},
                            headers=a)).json()["metadata"] == {"owner": "a"}
    probes = [
        ("/threads", {"thread_id": tid}, own_thread),
        ("/threads", {"thread_id": tid, "if_exists": "do_nothing"}, own_thread),
        ("/threads", {"thread_id": tid, "metadata": {"owner": "b"}, "graph_id": "steps"}, own_thread),
        ("/assistants", {"assistant_id": aid, "graph_id": "steps"}, own_assistant),
        ("/assistants", {"assistant_id": aid, "graph_id": "steps", "if_exists": "do_nothing"}, own_assistant),
        (f"/threads/{tid}/runs", {"assistant_id": "steps", "input": {}, "if_not_exists": "create"}, own_thread),
        (f"/threads/{tid}/runs/wait", {"assistant_id": "steps", "input": {}, "if_not_exists": "create"}, own_thread),
        (f"/threads/{tid}/runs/stream", {"assistant_id": "steps", "input": {}, "if_not_exists": "create"}, own_thread),
    ]
    for path, body, own in probes:
        r = await http.post(path, json=body, headers=b)
        assert (r.status_code, r.json()) == (own.status_code, own.json()), (path, body, r.text)
        assert "org_" not in r.text and "a-only" not in r.text and "owner" not in r.text
    # Nothing of A's changed, nothing was written for B, and reads stay 404 for B.
    thread = (await http.get(f"/threads/{tid}", headers=a)).json()
    assert thread["metadata"] == {"owner": "a"} and thread["status"] == "idle"
    assert (await http.get(f"/threads/{tid}/runs", headers=a)).json() == []
    assert (await http.get(f"/assistants/{aid}", headers=a)).json()["name"] == "a-only"
    assert (await http.post("/threads/count", json={}, headers=b)).json() == 0
    assert (await http.get(f"/threads/{tid}", headers=b)).status_code == 404
    assert (await http.get(f"/assistants/{aid}", headers=b)).status_code == 404
    # A free id is created for B as asked.
    free = str(uuid.uuid4())
    r = await http.post(f"/threads/{free}/runs/wait", json={"assistant_id": "steps", "input": {},
                                                          "if_not_exists": "create"}, headers=b)
    assert r.status_code == 200, r.text


# --- permissions ----------------------------------------------------------------------------


async def test_per_assistant_permissions(clerk: ClerkDouble, http: httpx.AsyncClient) -> None:
    org = f"org_{uuid.uuid4().hex[:8]}"
    admin = bearer(clerk, "user_boss", org, "org:admin")
    alice = bearer(clerk, "user_alice", org, "org:member")
    bob = bearer(clerk, "user_bob", org, "org:member")
    aid = (await http.post("/assistants", json={"graph_id": "approval"}, headers=admin)).json()["assistant_id"]
    assert (await http.post("/assistants", json={"graph_id": "steps"}, headers=alice)).status_code == 403
    assert (await http.patch(f"/assistants/{aid}", json={"name": "n"}, headers=alice)).status_code == 403
    # Without grants members may run; once "run" is granted to alice, bob may not.
    t = (await http.post("/threads", json={}, headers=bob)).json()["thread_id"]
    r = await http.put(f"/assistants/{aid}/permissions", json={"user_id": "user_alice", "permissions": ["run"]},
                       headers=admin)
    assert r.status_code == 200 and r.json()["permissions"] == ["run"]
    bad = await http.put(f"/assistants/{aid}/permissions", json={"user_id": "u", "permissions": ["fly"]},
                         headers=admin)
    assert bad.status_code == 422 and "permissions" in bad.text
    body = {"assistant_id": aid, "input": {"request": "laptop", "amount": 5000}}
    r = await http.post(f"/threads/{t}/runs", json=body, headers=bob)
    assert r.status_code == 403 and "run" in r.json()["detail"]
    assert (await http.post(f"/threads/{t}/runs/wait", json=body, headers=alice)).status_code == 200
    state = (await http.get(f"/threads/{t}/state", headers=bob)).json()
    assert state["next"], state  # waiting at the approval step
    # Approving: restricted to user_boss's grant; alice may run but not approve.
    await http.put(f"/assistants/{aid}/permissions", json={"user_id": "user_carol", "permissions": ["approve"]},
                   headers=admin)
    resume = {"assistant_id": aid, "command": {"resume": {"approved": True, "by": "alice"}}}
    r = await http.post(f"/threads/{t}/runs/wait", json=resume, headers=alice)
    assert r.status_code == 403 and "approve" in r.json()["detail"]
    assert (await http.post(f"/threads/{t}/state", json={"values": {}}, headers=alice)).status_code == 403
    r = await http.post(f"/threads/{t}/runs/wait", json=resume, headers=admin)
    assert r.status_code == 200, r.text
    grants = (await http.get(f"/assistants/{aid}/permissions", headers=bob)).json()
    assert grants == {"run": ["user_alice"], "approve": ["user_carol"]}


async def test_bulk_cancel_and_cancel_on_disconnect_need_run_on_the_assistant(
    clerk: ClerkDouble, http: httpx.AsyncClient
) -> None:
    org = f"org_{uuid.uuid4().hex[:8]}"
    admin = bearer(clerk, "user_cadm", org, "org:admin")
    alice = bearer(clerk, "user_calice", org, "org:member")
    bob = bearer(clerk, "user_cbob", org, "org:member")
    viewer = bearer(clerk, "user_cview", org, "org:viewer")
    aid = (await http.post("/assistants", json={"graph_id": "steps"}, headers=admin)).json()["assistant_id"]
    grant = {"user_id": "user_calice", "permissions": ["run"]}
    assert (await http.put(f"/assistants/{aid}/permissions", json=grant, headers=admin)).status_code == 200
    tid = (await http.post("/threads", json={}, headers=alice)).json()["thread_id"]
    run = (await http.post(f"/threads/{tid}/runs", headers=alice, json={
        "assistant_id": aid, "input": {}, "config": {"configurable": {"delay": 0.6}}})).json()
    rid = run["run_id"]

    async def status() -> str:
        return str((await http.get(f"/threads/{tid}/runs/{rid}", headers=viewer)).json()["status"])

    # By ids: a run bob may not cancel is a 403, as the single cancel is; by status: left alone.
    r = await http.post("/runs/cancel", json={"thread_id": tid, "run_ids": [rid]}, headers=bob)
    assert r.status_code == 403 and "run" in r.json()["detail"]
    assert (await http.post(f"/threads/{tid}/runs/{rid}/cancel", headers=bob)).status_code == 403
    assert (await http.post("/runs/cancel", json={"status": "all"}, headers=bob)).status_code == 204
    # Hanging up cannot cancel for a caller who may only read: refused up front.
    for path in (f"/threads/{tid}/runs/{rid}/join", f"/threads/{tid}/runs/{rid}/stream"):
        r = await http.get(path, params={"cancel_on_disconnect": "true"}, headers=viewer)
        assert r.status_code == 403 and "cancel_on_disconnect" in r.json()["detail"], r.text
        r = await http.get(path, params={"cancel_on_disconnect": "true"}, headers=bob)
        assert r.status_code == 403
    await asyncio.sleep(0.3)
    assert await status() in ("pending", "running")
    # Alice may: a bulk cancel by status reaches her run.
    assert (await http.post("/runs/cancel", json={"status": "all"}, headers=alice)).status_code == 204
    for _ in range(100):
        if await status() == "interrupted":
            break
        await asyncio.sleep(0.1)
    assert await status() == "interrupted"


# --- keys and sessions ----------------------------------------------------------------------


async def test_keys_shown_once_scoped_and_revoked_at_once(clerk: ClerkDouble, http: httpx.AsyncClient) -> None:
    org = f"org_{uuid.uuid4().hex[:8]}"
    admin = bearer(clerk, "user_root", org, "org:admin")
    member = bearer(clerk, "user_m", org, "org:member")
    assert (await http.post("/auth/keys", json={"name": "x"}, headers=member)).status_code == 403
    r = await http.post("/auth/keys", json={"name": "ci", "scopes": ["read"], "expires_in_days": 1}, headers=admin)
    assert r.status_code == 201, r.text
    new = r.json()
    SECRETS.append(new["key"])
    listed = (await http.get("/auth/keys", headers=admin)).json()
    assert [k["key_id"] for k in listed] == [new["key_id"]] and "key" not in listed[0]
    assert new["key"] not in str(listed)
    k = {"x-api-key": new["key"]}
    assert (await http.post("/threads/search", json={}, headers=k)).status_code == 200
    assert (await http.post("/threads", json={}, headers=k)).status_code == 403
    assert (await http.post("/assistants/search", json={}, headers={"Authorization": f"Bearer {new['key']}"})).status_code == 200
    bad = await http.post("/auth/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422 and "scopes" in bad.text
    # A browser session opened with the key; logout and revocation end things at once.
    login = await http.post("/auth/sessions", headers=k)
    assert login.status_code == 201
    cookie = login.cookies["nexod_session"]
    SECRETS.append(cookie)
    set_cookie = login.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" in set_cookie and "samesite=lax" in set_cookie
    s = {"nexod_session": cookie}
    http.cookies.clear()
    assert (await http.get("/auth/me", cookies=s)).json()["kind"] == "session"
    assert (await http.delete(f"/auth/keys/{new['key_id']}", headers=admin)).status_code == 204
    assert (await http.post("/threads/search", json={}, headers=k)).status_code == 401
    assert (await http.get("/auth/me", cookies=s)).status_code == 401
    # Logout of a second session.
    login = await http.post("/auth/sessions", headers=admin)
    s2 = {"nexod_session": login.cookies["nexod_session"]}
    SECRETS.append(s2["nexod_session"])
    http.cookies.clear()
    assert (await http.get("/auth/me", cookies=s2)).status_code == 200
    assert (await http.delete("/auth/sessions", cookies=s2)).status_code == 204
    assert (await http.get("/auth/me", cookies=s2)).status_code == 401


def test_cli_keys_and_expiry(tmp_path: Path) -> None:
    env = {"NEXOD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "nexod.cli", "keys"]
    out = subprocess.run([*cli, "create", "--name", "ops", "--scope", "read", "--expires-days", "0.00001"],
                         env=env, capture_output=True, text=True, check=True)
    secret = out.stdout.strip()
    SECRETS.append(secret)
    assert secret.startswith("nxk_") and secret not in out.stderr
    listed = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert "ops" in listed and secret not in listed
    key_id = listed.split()[0]
    time.sleep(1)
    srv = Server(tmp_path, extra_env={"NEXOD_AUTH": "apikey"})
    srv.start()
    try:
        r = httpx.get(f"{srv.url}/auth/me", headers={"x-api-key": secret})
        assert r.status_code == 401 and "expired" in r.text
        fresh = subprocess.run([*cli, "create", "--name", "ops2"], env=env, capture_output=True, text=True,
                               check=True).stdout.strip()
        SECRETS.append(fresh)
        assert httpx.get(f"{srv.url}/auth/me", headers={"x-api-key": fresh}).status_code == 200
        fresh_id = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True,
                                  check=True).stdout.split()[0]
        subprocess.run([*cli, "revoke", fresh_id], env=env, check=True, capture_output=True)
        r = httpx.get(f"{srv.url}/auth/me", headers={"x-api-key": fresh})
        assert r.status_code == 401 and "revoked" in r.text
        bad = subprocess.run([*cli, "revoke", key_id, "--org", "elsewhere"], env=env, capture_output=True, text=True)
        assert bad.returncode == 2 and "not found" in bad.stderr
    finally:
        srv.stop()
    for f in tmp_path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert secret.encode() not in data and fresh.encode() not in data, f


def test_local_auth_refuses_a_network_address(tmp_path: Path) -> None:
    env = {"NEXOD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "nexod.cli", "serve", "--host", "0.0.0.0"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "loopback" in r.stderr and "NEXOD_AUTH" in r.stderr


def test_jwks_fetched_once_and_cached(clerk: ClerkDouble, tmp_path: Path) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.servers import free_port

    fetches: list[str] = []
    doc = json.dumps(clerk.jwks()).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(doc)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Jwks)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    env = {k: v for k, v in clerk.env().items() if k != "CLERK_JWT_KEY"}
    env["NEXOD_CLERK_JWKS_URL"] = f"http://127.0.0.1:{httpd.server_port}/.well-known/jwks.json"
    srv = Server(tmp_path, extra_env=env)
    srv.start()
    try:
        for i in range(5):
            r = httpx.get(f"{srv.url}/auth/me", headers=bearer(clerk, f"user_{i}", "org_jwks"))
            assert r.status_code == 200, r.text
        assert len(fetches) == 1
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = clerk.token("user_x", "org_jwks", key=other)
        assert httpx.get(f"{srv.url}/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        unknown_kid = clerk.token("user_x", "org_jwks", kid="ins_unknown")
        r = httpx.get(f"{srv.url}/auth/me", headers={"Authorization": f"Bearer {unknown_kid}"})
        assert r.status_code == 401 and "signing key" in r.text
    finally:
        srv.stop()
        httpd.shutdown()


async def test_response_cache_is_per_caller_and_invalidated_by_writes(
    clerk: ClerkDouble, http: httpx.AsyncClient
) -> None:
    org = f"org_{uuid.uuid4().hex[:8]}"
    admin = bearer(clerk, "user_adm", org, "org:admin")
    viewer = bearer(clerk, "user_view", org, "org:viewer")
    aid = (await http.post("/assistants", json={"graph_id": "steps", "name": "v1"}, headers=admin)).json()["assistant_id"]
    first = await http.get(f"/assistants/{aid}", headers=admin)
    assert first.headers["x-cache"] == "miss"
    assert (await http.get(f"/assistants/{aid}", headers=admin)).headers["x-cache"] == "hit"
    assert (await http.get(f"/assistants/{aid}", headers=viewer)).headers["x-cache"] == "miss"  # own scope
    assert (await http.patch(f"/assistants/{aid}", json={"name": "v2"}, headers=admin)).status_code == 200
    after = await http.get(f"/assistants/{aid}", headers=admin)
    assert after.headers["x-cache"] == "miss" and after.json()["name"] == "v2"
    found = await http.post("/assistants/search", json={"name": "v2"}, headers=viewer)
    assert [a["assistant_id"] for a in found.json()] == [aid]
    # Errors are not cached; an unknown id stays a 404.
    missing = f"/assistants/{uuid.uuid4()}"
    assert (await http.get(missing, headers=admin)).status_code == 404
    assert (await http.get(missing, headers=admin)).status_code == 404


def test_credentials_are_read_from_the_right_places() -> None:
    from nexod.auth.base import Credentials

    assert Credentials.from_headers({"authorization": "Basic dXNlcjpwYXNz"}, {}).bearer is None
    assert Credentials.from_headers({"authorization": "Bearer abc"}, {}).bearer == "abc"
    assert Credentials.from_headers({"authorization": "Bearer "}, {}).bearer is None
    c = Credentials.from_headers({"x-api-key": "nxk_1"}, {"nexod_session": "s", "__session": "jwt"})
    assert (c.api_key, c.session, c.clerk_cookie) == ("nxk_1", "s", "jwt")


async def test_clerk_cookie_opens_a_session_but_a_session_does_not(
    clerk: ClerkDouble, http: httpx.AsyncClient
) -> None:
    tok = clerk.token("user_cookie", "org_cookie", "org:member")
    SECRETS.append(tok)
    http.cookies.clear()
    r = await http.post("/auth/sessions", cookies={"__session": tok})
    assert r.status_code == 201 and r.json()["org_id"] == "org_cookie"
    session = r.cookies["nexod_session"]
    SECRETS.append(session)
    http.cookies.clear()
    again = await http.post("/auth/sessions", cookies={"nexod_session": session})
    assert again.status_code == 401


def _db(srv: Server, name: str = "nexod.db") -> Path:
    return next(srv.data_dir.rglob(name))


def _rows(db: Path, table: str, where: str, *args: str) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0])


def test_expired_sessions_are_swept(clerk: ClerkDouble, tmp_path: Path) -> None:
    srv = Server(tmp_path, extra_env={**clerk.env(), "NEXOD_SWEEP_INTERVAL": "0.3"})
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            live = c.post("/auth/sessions", headers=bearer(clerk, "user_sw", "org_sw")).cookies["nexod_session"]
            SECRETS.append(live)
            c.cookies.clear()
            db = _db(srv)
            old = "2000-01-01 00:00:00.000000"
            with sqlite3.connect(db, timeout=30) as conn:
                conn.execute(
                    "INSERT INTO browser_sessions (digest, org_id, subject, credential, principal, created_at,"
                    " expires_at, ended_at) VALUES (?, 'org_sw', 'user_old', NULL, '{}', ?, ?, NULL)",
                    ("0" * 64, old, old))
            deadline = time.monotonic() + 15
            while _rows(db, "browser_sessions", "digest = ?", "0" * 64):
                assert time.monotonic() < deadline, "the expired session row was never deleted"
                time.sleep(0.2)
            # The live session stays, and still works.
            assert _rows(db, "browser_sessions", "org_id = 'org_sw'") == 1
            assert c.get("/auth/me", cookies={"nexod_session": live}).json()["subject"] == "user_sw"
    finally:
        srv.stop()


async def test_org_deleted_webhook_bars_and_purges_the_org(
    clerk: ClerkDouble, http: httpx.AsyncClient, secure_server: Server
) -> None:
    gone, kept = f"org_{uuid.uuid4().hex[:8]}", f"org_{uuid.uuid4().hex[:8]}"
    admin, member = bearer(clerk, "user_dadm", gone), bearer(clerk, "user_dmem", gone, "org:member")
    other = bearer(clerk, "user_kept", kept)
    for kind, who, role in (("created", "user_dmem", "org:member"), ("created", "user_dadm", "org:admin")):
        body, headers = clerk.webhook(membership_event(kind, gone, who, role))
        assert (await http.post("/webhooks/clerk", content=body, headers=headers)).status_code == 200
    aid = (await http.post("/assistants", json={"graph_id": "steps", "name": "doomed"}, headers=admin)).json()["assistant_id"]
    await http.put(f"/assistants/{aid}/permissions", json={"user_id": "user_dmem", "permissions": ["run"]}, headers=admin)
    tid = (await http.post("/threads", json={}, headers=admin)).json()["thread_id"]
    assert (await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": aid, "input": {}},
                            headers=member)).status_code == 200
    long_tid = (await http.post("/threads", json={}, headers=admin)).json()["thread_id"]
    await http.post(f"/threads/{long_tid}/runs", headers=admin, json={
        "assistant_id": aid, "input": {}, "config": {"configurable": {"delay": 5}}})
    item = {"namespace": ["docs"], "key": "k", "value": {"text": "doomed"}}
    assert (await http.put("/store/items", json=item, headers=admin)).status_code == 204
    key = (await http.post("/auth/keys", json={"name": "doomed"}, headers=admin)).json()["key"]
    SECRETS.append(key)
    session = (await http.post("/auth/sessions", headers=admin)).cookies["nexod_session"]
    SECRETS.append(session)
    http.cookies.clear()
    kept_tid = (await http.post("/threads", json={}, headers=other)).json()["thread_id"]
    for who, text in ((admin, "doomed plans"), (other, "kept plans")):
        r = await http.post("/knowledge/documents", json={"source": "plans.md", "text": text}, headers=who)
        assert r.status_code == 201, r.text
    assert (await http.put("/store/items", json=item, headers=other)).status_code == 204
    # The local (operator) organisation cannot be deleted: a 422, nothing changes.
    local, local_headers = clerk.webhook({"type": "organization.deleted", "data": {"id": "local"}})
    r = await http.post("/webhooks/clerk", content=local, headers=local_headers)
    assert r.status_code == 422, r.text

    event = {"type": "organization.deleted", "object": "event", "data": {"id": gone, "deleted": True}}
    body, headers = clerk.webhook(event)
    r = await http.post("/webhooks/clerk", content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"ok": True, "duplicate": False}
    # Every credential of the organisation is refused at once, and it is never re-created.
    for creds, cookies in ((admin, None), (member, None), ({"x-api-key": key}, None),
                           ({}, {"nexod_session": session})):
        r = await http.post("/threads/search", json={}, headers=creds, cookies=cookies)
        assert r.status_code == 401, (creds.keys(), r.text)
        http.cookies.clear()
    assert "deleted" in (await http.get("/auth/me", headers=admin)).json()["detail"]
    # Its data is gone, its threads' checkpoints too; the other tenant keeps everything.
    db, cps = _db(secure_server), _db(secure_server, "checkpoints.db")
    for table in ("assistants", "assistant_versions", "assistant_permissions", "threads", "agent_sessions",
                  "agent_logs", "store_items", "api_keys", "browser_sessions", "memberships", "crons",
                  "kb_documents", "vector_metadata"):
        assert _rows(db, table, "org_id = ?", gone) == 0, table
    for t in (tid, long_tid):
        assert _rows(cps, "checkpoints", "thread_id = ?", t) == 0
    assert _rows(db, "organizations", "org_id = ? AND deleted_at IS NOT NULL", gone) == 1
    assert (await http.get(f"/threads/{kept_tid}", headers=other)).status_code == 200
    assert (await http.get("/store/items?namespace=docs&key=k", headers=other)).json()["value"] == item["value"]
    hits = (await http.post("/knowledge/search", json={"query": "plans"}, headers=other)).json()["hits"]
    assert [h["text"] for h in hits] == ["kept plans"]
    # Idempotent: the same delivery is a duplicate, a new one for the same org changes nothing.
    assert (await http.post("/webhooks/clerk", content=body, headers=headers)).json()["duplicate"] is True
    again, again_headers = clerk.webhook(event)
    assert (await http.post("/webhooks/clerk", content=again, headers=again_headers)).status_code == 200
    assert _rows(db, "organizations", "org_id = ?", gone) == 1
    assert (await http.get("/auth/me", headers=admin)).status_code == 401


# --- crews and platform endpoints -------------------------------------------------------------


def test_crews_are_authenticated_scoped_and_permissioned(clerk: ClerkDouble, tmp_path: Path) -> None:
    from tests.e2e.test_crews import CONFIG, ENV

    srv = Server(tmp_path, config=CONFIG, extra_env={**ENV, **clerk.env()})
    srv.start()
    try:
        c = httpx.Client(base_url=srv.url, timeout=30)
        admin, viewer = bearer(clerk, "user_ca", "org_ca"), bearer(clerk, "user_cv", "org_ca", "org:viewer")
        alice, bob = bearer(clerk, "user_al", "org_ca", "org:member"), bearer(clerk, "user_bo", "org_ca", "org:member")
        other = bearer(clerk, "user_cb", "org_cb")
        assert c.get("/crews").status_code == 401
        assert c.get("/crews", headers=viewer).status_code == 200
        body = {"inputs": {"topic": "tenancy"}}
        r = c.post("/crews/research/kickoff", json=body, headers=viewer)
        assert r.status_code == 403 and "run" in r.text
        kid = c.post("/crews/research/kickoff", json=body, headers=admin).json()["kickoff_id"]
        assert c.get(f"/crews/research/status/{kid}", headers=viewer).status_code == 200
        assert c.get(f"/crews/research/status/{kid}", headers=other).status_code == 404
        assert c.post(f"/crews/research/stop/{kid}", headers=other).status_code == 404
        r = c.post("/crews/research/resume", headers=other,
                   json={"execution_id": kid, "task_id": "t", "human_feedback": "", "is_approve": True})
        assert r.status_code == 404
        # A per-crew grant is a grant on the crew's assistant.
        grant = {"user_id": "user_al", "permissions": ["run"]}
        assert c.put("/assistants/research/permissions", json=grant, headers=admin).status_code == 200
        assert c.post("/crews/research/kickoff", json=body, headers=bob).status_code == 403
        assert c.post("/crews/research/kickoff", json=body, headers=alice).status_code == 200
        # An organisation's admin sees its own alerts and platform ones, never another tenant's.
        r = c.get("/alerts", headers=admin)
        assert r.status_code == 200
        assert all(a["org_id"] in (None, "org_ca") for a in r.json()), r.json()
    finally:
        srv.stop()


# --- secrets stay secret (runs last in this module) ------------------------------------------


def test_no_secret_in_logs_or_database(secure_server: Server) -> None:
    assert SECRETS
    files = [p for p in secure_server.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name == "nexod.db" for p in files)
    for p in files:
        data = p.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"a credential is stored in clear in {p.name}"
            # nor any JWT signature part on its own
            if secret.count(".") == 2:
                assert secret.rsplit(".", 1)[1].encode() not in data, p.name


@pytest.mark.postgres
async def test_org_deleted_purges_on_postgres(clerk: ClerkDouble, tmp_path: Path) -> None:
    """The purge on PostgreSQL (pgvector, the PostgreSQL checkpointer): every table of the
    deleted organisation is emptied, checkpoints included; the other tenant keeps its data."""
    import psycopg

    gone, kept = f"org_{uuid.uuid4().hex[:8]}", f"org_{uuid.uuid4().hex[:8]}"
    with postgres_database(pg_admin_url()) as url:
        srv = Server(tmp_path, database_url=url, extra_env=clerk.env())
        srv.start()
        try:
            async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
                threads: dict[str, str] = {}
                for org in (gone, kept):
                    h = bearer(clerk, f"user_{org}", org)
                    aid = (await http.post("/assistants", json={"graph_id": "steps"}, headers=h)).json()["assistant_id"]
                    tid = (await http.post("/threads", json={}, headers=h)).json()["thread_id"]
                    r = await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": aid, "input": {}}, headers=h)
                    assert r.status_code == 200, r.text
                    assert (await http.put("/store/items", headers=h, json={
                        "namespace": ["n"], "key": "k", "value": {"v": org}})).status_code == 204
                    assert (await http.post("/knowledge/documents", headers=h, json={
                        "source": "plans.md", "text": f"plans of {org}"})).status_code == 201
                    threads[org] = tid
                body, headers = clerk.webhook({"type": "organization.deleted", "object": "event",
                                               "data": {"id": gone, "deleted": True}})
                assert (await http.post("/webhooks/clerk", content=body, headers=headers)).status_code == 200
                other = bearer(clerk, f"user_{kept}", kept)
                hits = (await http.post("/knowledge/search", json={"query": "plans"}, headers=other)).json()["hits"]
                assert [h["text"] for h in hits] == [f"plans of {kept}"]
            with psycopg.connect(url) as conn:
                def count(sql: str, arg: str) -> int:
                    row = conn.execute(sql, (arg,)).fetchone()
                    return int(row[0]) if row else 0

                for table in ("assistants", "threads", "agent_sessions", "agent_logs", "store_items",
                              "kb_documents", "vector_metadata", "kb_vectors"):
                    # pgvector's rows carry the tenant in their namespace, "<org>/<namespace>"
                    where = "namespace LIKE %s" if table == "kb_vectors" else "org_id = %s"
                    for org, left in ((gone, False), (kept, True)):
                        arg = f"{org}/%" if table == "kb_vectors" else org
                        n = count(f"SELECT count(*) FROM {table} WHERE {where}", arg)
                        assert (n > 0) == left, (table, org, n)
                assert count("SELECT count(*) FROM checkpoints WHERE thread_id = %s", threads[gone]) == 0
                assert count("SELECT count(*) FROM checkpoints WHERE thread_id = %s", threads[kept]) > 0
        finally:
            srv.stop()
