"""Fuzz the server through its own OpenAPI document: no request makes it fail.

Schemathesis generates valid and invalid requests for every operation (its coverage phase
tries boundary values: empty and huge strings, NUL characters, out-of-range numbers, wrong
types, missing and extra fields, then random fuzzing follows), sends them to a real server on
each backend, and checks that no answer is a 5xx and that every error is a JSON
``{"detail": "..."}`` body.

The run goes through schemathesis' engine (what ``schemathesis run`` uses) rather than its
pytest plugin: ``schemathesis.pytest.from_fixture`` needs ``Function._nodeid``, which pytest 9
no longer has, and the server only exists once its fixture has started it.

Bounded so it takes under a minute per backend: few examples per operation, a fixed seed, no
shrinking, no example database and a timeout on every request (pytest-timeout bounds the whole
test). Not schemathesis' ``max-time``: that is a budget it spends in full, not a cap.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

from tests.servers import Server

MAX_EXAMPLES = 20
REQUEST_TIMEOUT = 10.0  # seconds; a fuzzed request is answered in milliseconds

# `GET /threads/{thread_id}/stream` follows a thread until the client leaves: on a thread that
# exists (schemathesis reuses ids from earlier responses, e.g. of POST /threads) it never ends,
# so it is left out. The other streaming and long-wait endpoints (`/runs/stream`, `/runs/wait`,
# `.../join`, `.../runs/{run_id}/stream`, `cancel?wait=true`) stay in: a fuzzed request cannot
# name a real assistant or run, so they answer at once with a 404 or 422, and the request
# timeout bounds them should one ever reach a live run.
NEVER_ENDS = r"^/threads/\{thread_id\}/stream$"


@schemathesis.check
def error_is_json_detail(ctx: Any, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
    """An error answer is ``{"detail": "<message>"}`` as JSON, as the SDK expects."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error with content type {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], (
        f"error body without a detail message: {response.text[:300]}"
    )


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": 20261125,
        "suppress-health-check": ["all"],
        "request-timeout": REQUEST_TIMEOUT,
        "workers": 1,
        "continue-on-failure": True,  # report every failing case, not only the first per operation
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "no-shrink": True, "database": "none"},
        "phases": {
            "examples": {"enabled": False},  # the document has no examples
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {
            "enabled": False,  # only what this test is about, not conformance to the document
            "not_a_server_error": {"enabled": True},
            error_is_json_detail.__name__: {"enabled": True},
        },
    })


def describe_failures(event: ScenarioFinished) -> list[str]:
    found = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                info = check.failure_info
                found.append(f"{event.label}: {info.failure.title}: {info.failure.message}\n  {info.code_sample}")
    return found


# Every operation of the API is fuzzed, the knowledge endpoints (which embed what they are sent)
# included: on a busy 2-core machine that outlasts the default per-test timeout.
@pytest.mark.timeout(600)
def test_no_request_makes_the_server_fail(server: Server) -> None:
    document = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=fuzz_config())
    schema = document.exclude(method="GET", path_regex=NEVER_ENDS)
    failures: list[str] = []
    tested: set[str] = set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, ScenarioFinished) and event.label:
            tested.add(event.label)
            failures.extend(describe_failures(event))
        elif isinstance(event, NonFatalError):
            failures.append(f"{event.label}: {type(event.value).__name__}: {event.value}")
        elif isinstance(event, FatalError):
            raise event.exception
    assert not failures, "\n\n".join(failures)
    assert "POST /threads/{thread_id}/runs" in tested and "PUT /store/items" in tested, sorted(tested)
    assert "POST /knowledge/documents" in tested and "POST /knowledge/search" in tested, sorted(tested)
