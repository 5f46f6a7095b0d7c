"""The dashboard through the app itself (FastAPI's TestClient, SQLite, the test graphs):
sign-in redirects, security headers, escaping, the cross-origin (CSRF) check, static files,
tenant scoping and permission messages. The browser tests are in tests/e2e."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from nexod.app import create_app
from nexod.core import Core
from nexod.settings import Settings
from nexod.web.security import CSP
from tests.conftest import pg_admin_url
from tests.servers import TEST_GRAPHS, postgres_database

EVIL = "http://evil.example"
MARKUP = '<script>alert("owned")</script>'


def _key(http: TestClient, org: str, *scopes: str) -> str:
    core: Core = http.app.state.core  # type: ignore[attr-defined]
    create = functools.partial(core.auth.keys.create, org, name=f"k-{org}", scopes=list(scopes) or None)
    assert http.portal is not None
    return str(http.portal.call(create).secret)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("web"), config=TEST_GRAPHS, auth="apikey",
                        cookie_secure=False, trusted_origins=["https://ops.example.com"])
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="module")
def admin_key(http: TestClient) -> str:
    return _key(http, "local", "read", "write", "run", "approve", "administer")


@pytest.fixture
def browser(http: TestClient, admin_key: str) -> Iterator[TestClient]:
    """The same app, signed in with a session cookie (as a browser is after sign-in)."""
    r = http.post("/auth/sessions", headers={"x-api-key": admin_key})
    assert r.status_code == 201, r.text
    cookie = r.cookies["nexod_session"]
    http.cookies.clear()
    with TestClient(http.app, base_url="http://testserver", cookies={"nexod_session": cookie}) as b:
        yield b


def test_pages_redirect_to_sign_in_and_root_splits_browsers_from_clients(http: TestClient) -> None:
    for path in ("/ui/", "/ui/threads?status=error", "/ui/inbox", "/ui/ops"):
        r = http.get(path, follow_redirects=False)
        assert r.status_code == 303, (path, r.text)
        assert r.headers["location"].startswith("/ui/signin?next=%2Fui%2F"), r.headers["location"]
    assert "status%3Derror" in http.get("/ui/threads?status=error", follow_redirects=False).headers["location"]
    page = http.get("/ui/signin?next=/ui/inbox")
    assert page.status_code == 200 and 'id="signin-form"' in page.text and 'data-next="/ui/inbox"' in page.text
    # Only a dashboard path may be the destination: no open redirect.
    for bad in ("https://evil.example/", "//evil.example/ui", "/ui\\..\\x"):
        assert 'data-next="/ui/"' in http.get("/ui/signin", params={"next": bad}).text
    assert http.get("/", headers={"accept": "text/html"}, follow_redirects=False).headers["location"] == "/ui/"
    info = http.get("/", headers={"accept": "application/json"})
    assert info.status_code == 200 and info.json()["dashboard"] == "/ui/"
    # The JSON API still answers 401 in JSON.
    assert http.get("/auth/me").status_code == 401
    assert http.post("/threads/search", json={}).json()["detail"].startswith("not authenticated")


def test_security_headers_and_no_inline_script(http: TestClient, browser: TestClient) -> None:
    for path in ("/ui/signin", "/ui/", "/ui/threads", "/ui/inbox", "/ui/start", "/ui/knowledge", "/ui/ops"):
        client = http if path == "/ui/signin" else browser
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-security-policy"] == CSP
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        # Every script is a file from /ui/static; no inline handlers or style attributes.
        assert re.findall(r"<script(?![^>]*\bsrc=\"/ui/static/)", r.text) == [], path
        assert not re.search(r"\son[a-z]+=", r.text) and " style=" not in r.text, path
    assert "content-security-policy" not in http.get("/ok").headers  # the API is left alone


def test_static_files_are_served(http: TestClient) -> None:
    js = http.get("/ui/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "textContent" in js.text and "innerHTML" not in js.text
    css = http.get("/ui/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/ui/static/nope.js").status_code == 404


def test_user_data_is_escaped(browser: TestClient, admin_key: str) -> None:
    api = {"x-api-key": admin_key}
    r = browser.post("/assistants", json={"graph_id": "approval", "name": MARKUP}, headers=api)
    assert r.status_code == 200, r.text
    tid = browser.post("/threads", json={}, headers=api).json()["thread_id"]
    out = browser.post(f"/threads/{tid}/runs/wait", headers=api,
                       json={"assistant_id": "approval", "input": {"request": MARKUP, "amount": 500}})
    assert out.status_code == 200 and "__interrupt__" in out.json(), out.text
    run_id = browser.get(f"/threads/{tid}/runs", headers=api).json()[0]["run_id"]
    escaped = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;"
    for path in ("/ui/", "/ui/start", f"/ui/threads/{tid}", "/ui/inbox", f"/ui/threads/{tid}/runs/{run_id}"):
        page = browser.get(path).text
        assert MARKUP not in page, path
        assert escaped in page or escaped.replace("&#34;", "\\&#34;") in page, path


def test_cross_origin_cookie_writes_are_refused(http: TestClient, browser: TestClient, admin_key: str) -> None:
    def count() -> int:
        return int(browser.post("/threads/count", json={}).json())

    before = count()
    for headers in ({"origin": EVIL}, {"referer": f"{EVIL}/page"}, {"origin": "null"},
                    {"origin": "http://testserver:8080"}):
        r = browser.post("/threads", json={}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["detail"].startswith("cross-origin request refused"), r.text
        assert "Authorization" in r.json()["detail"]
    assert browser.delete("/auth/sessions", headers={"origin": EVIL}).status_code == 403
    assert count() == before  # nothing was written
    # Same origin, a trusted origin, no origin at all (not a browser): fine.
    assert browser.post("/threads", json={}, headers={"origin": "http://testserver"}).status_code == 200
    assert browser.post("/threads", json={}, headers={"referer": "http://testserver/ui/start"}).status_code == 200
    assert browser.post("/threads", json={}, headers={"origin": "https://ops.example.com"}).status_code == 200
    assert browser.post("/threads", json={}).status_code == 200
    # Reads are not judged; API clients with a header are never judged, cookie or not.
    assert browser.get("/auth/me", headers={"origin": EVIL}).status_code == 200
    assert browser.post("/threads", json={}, headers={"origin": EVIL, "x-api-key": admin_key}).status_code == 200
    http.cookies.clear()
    r = http.post("/threads", json={}, headers={"origin": EVIL, "authorization": f"Bearer {admin_key}"})
    assert r.status_code == 200, r.text
    assert count() == before + 6
    # A WebSocket opened from another origin with the cookie alone is refused before it opens.
    tid = browser.post("/threads", json={}).json()["thread_id"]
    run = browser.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {}})
    assert run.status_code == 200
    rid = browser.get(f"/threads/{tid}/runs").json()[0]["run_id"]
    with pytest.raises(WebSocketDisconnect) as refused, \
            browser.websocket_connect(f"/threads/{tid}/runs/{rid}/ws", headers={"origin": EVIL}):
        pass
    assert refused.value.code == 4403
    with browser.websocket_connect(f"/threads/{tid}/runs/{rid}/ws?last_event_id=-1",
                                   headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["event"] == "metadata"


def test_tenant_scoping_and_permission_messages(http: TestClient, browser: TestClient) -> None:
    tid = browser.post("/threads", json={}).json()["thread_id"]
    assert browser.get(f"/ui/threads/{tid}").status_code == 200
    # Another organisation's reader: the thread is not found, alerts need administer.
    other = _key(http, "org_other", "read")
    session = http.post("/auth/sessions", headers={"x-api-key": other}).cookies["nexod_session"]
    http.cookies.clear()
    with TestClient(http.app, cookies={"nexod_session": session}) as reader:
        page = reader.get(f"/ui/threads/{tid}")
        assert page.status_code == 404 and "Not found" in page.text and "Traceback" not in page.text
        ops = reader.get("/ui/ops")
        assert ops.status_code == 200 and 'id="alerts-forbidden"' in ops.text and "administer" in ops.text
        assert tid not in reader.get("/ui/threads").text
        assert reader.get("/ui/data/runs").json()["recent"] == []
    bad = browser.get("/ui/threads/not-a-uuid")
    assert bad.status_code == 404 and "is not a thread id" in bad.text


def test_overview_counts_runs_across_threads(browser: TestClient) -> None:
    tid = browser.post("/threads", json={}).json()["thread_id"]
    assert browser.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {}}).status_code == 200
    data = browser.get("/ui/data/runs").json()
    assert data["counts"]["success"] >= 1 and set(data["counts"]) >= {"pending", "running", "error"}
    assert any(r["thread_id"] == tid for r in data["recent"])
    page = browser.get("/ui/").text
    assert 'id="run-counts"' in page and tid[:8] in page and 'id="crews"' in page


def test_local_mode_is_signed_in(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, config=TEST_GRAPHS))) as local:
        page = local.get("/ui/")
        assert page.status_code == 200 and "Overview" in page.text and 'id="signout"' not in page.text
        assert local.get("/ui/signin", follow_redirects=False).headers["location"] == "/ui/"


def test_local_mode_refuses_other_origins_reads_included(tmp_path: Path) -> None:
    """With NEXOD_AUTH=local there are no credentials, so a page on another origin open in the
    user's browser must neither read nor write through it; Studio and trusted origins may."""
    settings = Settings(data_dir=tmp_path, config=TEST_GRAPHS, trusted_origins=["https://ops.example.com"])
    with TestClient(create_app(settings)) as local:
        tid = local.post("/threads", json={}).json()["thread_id"]  # no Origin: a CLI, the SDK
        for method, path in (("GET", f"/threads/{tid}"), ("POST", "/threads/search"), ("DELETE", f"/threads/{tid}")):
            for extra in ({}, {"x-api-key": "anything"}):
                r = local.request(method, path, json={} if method == "POST" else None,
                                  headers={"origin": EVIL, **extra})
                assert r.status_code == 403 and "NEXOD_AUTH=local" in r.json()["detail"], (method, path)
        assert local.get(f"/threads/{tid}").status_code == 200  # nothing was deleted
        for ok in ("http://testserver", "https://smith.langchain.com", "https://ops.example.com"):
            assert local.get(f"/threads/{tid}", headers={"origin": ok}).status_code == 200, ok
        # A CORS preflight is still answered (the request that follows is what is judged).
        pre = local.options("/threads", headers={"origin": EVIL, "access-control-request-method": "POST"})
        assert pre.status_code == 200
        with pytest.raises(WebSocketDisconnect), local.websocket_connect(
                f"/threads/{tid}/runs/00000000-0000-0000-0000-000000000000/ws", headers={"origin": EVIL}):
            pass


def test_overview_on_postgres(tmp_path: Path) -> None:
    """The overview's queries across threads (recent runs, counts by status) on PostgreSQL."""
    with postgres_database(pg_admin_url()) as url:
        settings = Settings(data_dir=tmp_path, config=TEST_GRAPHS, database_url=url)
        with TestClient(create_app(settings)) as local:
            tids = [local.post("/threads", json={}).json()["thread_id"] for _ in range(2)]
            for tid in tids:
                r = local.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {}})
                assert r.status_code == 200, r.text
            data = local.get("/ui/data/runs").json()
            assert data["counts"]["success"] == 2 and data["counts"]["error"] == 0
            assert [r["thread_id"] for r in data["recent"][:2]] == tids[::-1]  # newest first
            page = local.get("/ui/")
            assert page.status_code == 200 and tids[0][:8] in page.text
