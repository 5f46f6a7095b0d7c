"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
`nexod serve` (SQLite, ``NEXOD_AUTH=apikey``, the test graphs).

A person signs in with an API key, starts the approval workflow from the UI, finds it waiting
in the inbox, approves it and sees the run finish with the decision; the live run page shows
events while the run is still going, and tokens of a chat model as they stream.

Skipped when Chromium or Playwright is missing, unless ``CI`` is set: then that is a failure.
Never runs ``playwright install`` (no network): the browser is ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import Server

CHROMIUM = Path("/usr/bin/chromium")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


_why = _missing()
if _why is not None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {_why}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and Playwright: {_why}", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=15_000)


def _create_key(data_dir: Path) -> str:
    env = {"NEXOD_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    scopes = [a for s in ("read", "write", "run", "approve", "administer") for a in ("--scope", s)]
    out = subprocess.run([sys.executable, "-m", "nexod.cli", "keys", "create", "--name", "browser", *scopes],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server in apikey mode and an admin key (every scope) for its local org."""
    data = tmp_path_factory.mktemp("dashboard")
    key = _create_key(data)
    srv = Server(data, extra_env={"NEXOD_AUTH": "apikey"})
    srv.start()
    yield srv, key
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile; fails the test on a CSP violation, a page error or a dialog
    (an ``alert`` would mean injected markup ran)."""
    context = browser.new_context()
    pg = context.new_page()
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            problems.append(msg.text)

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("dialog", on_dialog)
    yield pg
    context.close()
    assert not problems, problems


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/ui/inbox")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))  # a redirect, not a JSON 401
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/ui/inbox$"))


def test_sign_in_start_approve_and_see_the_result(site: tuple[Server, str], page: Page) -> None:
    srv, key = site
    page.goto(f"{srv.url}/ui/signin")
    page.get_by_label("API key").fill("nxk_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("not authenticated")
    sign_in(page, srv.url, key)

    # Bad input is explained on the page: before sending, and the API's own 422 detail.
    page.get_by_role("link", name="Start a run").click()
    page.get_by_label("Assistant").select_option(label="approval (approval)")
    page.get_by_label("Input (JSON object)").fill("{not json")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#start-error")).to_contain_text("Input is not valid JSON")
    page.get_by_label("Input (JSON object)").fill("{}")
    page.locator("details summary", has_text="Options").click()
    page.get_by_label(re.compile("^Config")).fill('{"tags": "not-a-list"}')
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#start-error")).to_contain_text("config.tags")
    expect(page.locator("#start-error")).to_contain_text("HTTP 422")
    page.get_by_label(re.compile("^Config")).fill("")

    # Start the approval workflow from the UI; the request text is markup, shown as text.
    page.get_by_label("Input (JSON object)").fill('{"request": "laptop <img src=x onerror=alert(1)>", "amount": 500}')
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/ui/threads/[0-9a-f-]{36}/runs/[0-9a-f-]{36}$"))
    thread_id = page.url.split("/threads/")[1].split("/")[0]
    expect(page.locator("#waiting-note")).to_be_visible()  # it stopped at the interrupt

    # It waits in the inbox with the workflow's question; approve it.
    page.locator("#waiting-note a").click()
    card = page.locator(f"#t-{thread_id}")
    expect(card.locator(".question")).to_have_text("Approve this request?")
    expect(card.locator("pre")).to_contain_text('"laptop <img src=x onerror=alert(1)>"')
    card.get_by_label(re.compile("Feedback")).fill("fine for the new hire")
    card.get_by_role("button", name="Approve").click()

    # The resuming run's page: it finishes with the decision in its result.
    expect(page).to_have_url(re.compile(rf"/ui/threads/{thread_id}/runs/[0-9a-f-]{{36}}$"))
    expect(page.locator("#run-status .badge")).to_have_text("success")
    expect(page.locator("#result")).to_contain_text('"decision": "approved"')
    expect(page.locator("#result")).to_contain_text("by")
    expect(page.locator("#waiting-note")).to_be_hidden()

    # The inbox is empty again; the thread page shows the final state.
    page.get_by_role("link", name="Inbox").click()
    expect(page.locator("#inbox-empty")).to_be_visible()
    page.goto(f"{srv.url}/ui/threads/{thread_id}")
    expect(page.locator("#state-values")).to_contain_text('"decision": "approved"')

    page.get_by_role("link", name="Operations").click()
    expect(page.locator("#slo")).to_contain_text("api")
    expect(page.locator("#alerts")).to_be_visible()

    # Sign out: the session ends, pages send the browser back to sign-in.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/signin$"))
    page.goto(f"{srv.url}/ui/")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))


def test_live_run_page_shows_events_as_they_arrive(site: tuple[Server, str], page: Page) -> None:
    srv, key = site
    sign_in(page, srv.url, key)
    # Five steps, 1 s apart: the page must show the first ones while the run still goes on.
    api = httpx.Client(base_url=srv.url, headers={"x-api-key": key}, timeout=30)
    thread_id = api.post("/threads", json={}).json()["thread_id"]
    run = api.post(f"/threads/{thread_id}/runs", json={
        "assistant_id": "steps", "input": {}, "config": {"configurable": {"delay": 1.0}},
        "stream_mode": ["updates", "values"]}).json()
    page.goto(f"{srv.url}/ui/threads/{thread_id}/runs/{run['run_id']}")
    events = page.locator("#events li")
    expect(events.filter(has_text="nodes: s1")).to_be_visible()
    expect(events.filter(has_text="nodes: s5")).to_have_count(0)  # the run is still going
    expect(events.filter(has_text="nodes: s5")).to_be_visible()
    expect(page.locator("#live")).to_have_class(re.compile("ended"))
    expect(page.locator("#run-status .badge")).to_have_text("success")
    expect(page.locator("#result")).to_contain_text('"s5"')

    # Tokens of a chat model stream into the page (messages mode).
    page.get_by_role("link", name="Start a run").click()
    page.get_by_label("Assistant").select_option(label="chat (chat)")
    page.get_by_label("Input (JSON object)").fill('{"messages": [{"role": "human", "content": "hello from the browser"}]}')
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#tokens")).to_have_text("Echo: hello from the browser")
    expect(page.locator("#run-status .badge")).to_have_text("success")
    api.close()


def test_overview_follows_runs_without_a_reload(site: tuple[Server, str], page: Page) -> None:
    """A run started elsewhere shows up on an open overview in flight, then finished."""
    srv, key = site
    sign_in(page, srv.url, key)
    page.goto(f"{srv.url}/ui/")
    marker = page.evaluate("() => (window.__loaded = Date.now())")  # gone if the page reloads
    api = httpx.Client(base_url=srv.url, headers={"x-api-key": key}, timeout=30)
    thread_id = api.post("/threads", json={}).json()["thread_id"]
    api.post(f"/threads/{thread_id}/runs", json={
        "assistant_id": "steps", "input": {}, "config": {"configurable": {"delay": 1.5}}})
    expect(page.locator("#in-flight")).to_contain_text(thread_id[:8])
    expect(page.locator("#in-flight")).not_to_contain_text(thread_id[:8])
    expect(page.locator("#recent-runs tr", has_text=thread_id[:8])).to_contain_text("success")
    assert page.evaluate("() => window.__loaded") == marker
    api.close()


def test_refusals_are_explained(site: tuple[Server, str], page: Page) -> None:
    """Someone who may run but not approve: the inbox answer and the alerts are refused, and
    the page says which permission is missing."""
    srv, admin = site
    api = httpx.Client(base_url=srv.url, headers={"x-api-key": admin}, timeout=30)
    runner = api.post("/auth/keys", json={"name": "runner", "scopes": ["read", "run"]}).json()["key"]
    thread_id = api.post("/threads", json={}).json()["thread_id"]
    r = api.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "approval",
                                                          "input": {"request": "desk", "amount": 900}})
    assert "__interrupt__" in r.json(), r.text
    api.close()
    sign_in(page, srv.url, runner)
    card = page.locator(f"#t-{thread_id}")
    card.get_by_role("button", name="Approve").click()
    expect(card.locator(".result")).to_contain_text("Not allowed: permission 'approve' is needed")
    page.get_by_role("link", name="Operations").click()
    expect(page.locator("#alerts-forbidden")).to_contain_text("administer")
