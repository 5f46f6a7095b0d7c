"""Runs: on a thread, stateless, in batch; streaming, waiting, joining and cancelling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from nexod.api.deps import (
    READ,
    RUN,
    CoreDep,
    OffsetQuery,
    OrgDep,
    PrincipalDep,
    RunId,
    ThreadId,
    check_ref_thread,
    json_response,
    require_checkpoint,
)
from nexod.api.schemas import CancelMany, RunCreate, RunCreateStateless, RunField
from nexod.api.sse import keepalive_json, sse_response
from nexod.auth.base import Principal
from nexod.core import Core
from nexod.db.models import AgentSession
from nexod.errors import Forbidden, InvalidInput
from nexod.events.base import Event
from nexod.runs.service import run_dict
from nexod.runs.streaming import STREAM_MODES

router = APIRouter(tags=["runs"])

MAX_EVENT_ID = 2**63 - 1


def _locations(run: AgentSession, stateless: bool, tail: str) -> dict[str, str]:
    base = f"/threads/{run.thread_id}/runs/{run.run_id}"
    return {
        "Content-Location": f"/runs/{run.run_id}" if stateless else base,
        "Location": f"{base}/{tail}" if tail else base,
    }


def parse_last_event_id(value: str | None) -> int | None:
    """The sequence number after which to replay events (0: all of them; None: only new ones)."""
    if value is None or value == "":
        return None
    if value in ("-", "-1"):
        return 0
    try:
        seq = int(value)
    except ValueError:
        seq = -1
    if not 0 <= seq <= MAX_EVENT_ID:
        raise InvalidInput(f"Last-Event-ID must be an event id from this run, got {value!r}",
                           field="Last-Event-ID")
    return seq


def _wanted_modes(modes: list[str] | None) -> set[str]:
    # The SDK sends `stream_mode=` (empty) when no mode was chosen: that means every mode.
    wanted = {m for m in modes or () if m}
    unknown = wanted - STREAM_MODES
    if unknown:
        raise InvalidInput(f"unknown stream_mode {sorted(unknown)}; choose from {sorted(STREAM_MODES)}",
                           field="stream_mode")
    if "messages-tuple" in wanted:
        wanted.add("messages")
    return wanted


async def _filtered(events: AsyncIterator[Event | None], wanted: set[str]) -> AsyncIterator[Event | None]:
    async for ev in events:
        if ev is None or not wanted or ev.event in ("metadata", "error"):
            yield ev
            continue
        base = ev.event.split("|", 1)[0].split("/", 1)[0]
        if base in wanted:
            yield ev


def _stream_run(core: Core, org: str, run: AgentSession, *, stateless: bool, on_disconnect: str) -> Response:
    async def cancel() -> None:
        await core.runs.cancel(org, None, run.run_id, "interrupt")

    events = core.runs.stream(org, None, run.run_id, after=0, heartbeat=core.settings.heartbeat_interval)
    return sse_response(
        events, headers=_locations(run, stateless, "stream"),
        on_disconnect=cancel if on_disconnect == "cancel" else None,
    )


def _wait_run(core: Core, org: str, run: AgentSession, *, stateless: bool, on_disconnect: str) -> Response:
    async def cancel() -> None:
        await core.runs.cancel(org, None, run.run_id, "interrupt")

    return keepalive_json(
        core.runs.join(org, None, run.run_id), headers=_locations(run, stateless, "join"),
        on_disconnect=cancel if on_disconnect == "cancel" else None,
    )


# --- checks made before anything is written -----------------------------------------------------


async def authorize_run(core: Core, who: Principal, body: RunCreate) -> None:
    """404 for an assistant outside the caller's organisation; 403 unless the caller may run
    it (and approve, when the run resumes or steers an interrupted thread)."""
    row = await core.assistants.get(who.org_id, body.assistant_id)
    perms = core.auth.permissions
    await perms.require_on(who, "run", row.assistant_id, f"run assistant {body.assistant_id}")
    if body.command is not None:
        await perms.require_on(who, "approve", row.assistant_id,
                               f"resume or steer a run of assistant {body.assistant_id}")


async def authorize_on_run(core: Core, who: Principal, thread_id: str | None, run_id: str) -> None:
    """404 for another tenant's run; 403 unless the caller may run its assistant."""
    run = await core.runs.get(who.org_id, thread_id, run_id)
    await core.auth.permissions.require_on(who, "run", run.assistant_id, f"cancel or delete run {run_id}")


async def _may_cancel_on_disconnect(core: Core, who: Principal, run: AgentSession) -> None:
    """Joining with ``cancel_on_disconnect=true`` cancels the run when the caller goes away,
    so it needs what a cancel needs (``run`` on the run's assistant): a read-only caller is
    refused up front (403) rather than being handed a way to cancel by hanging up."""
    try:
        await core.auth.permissions.require_on(who, "run", run.assistant_id, "cancel a run")
    except Forbidden:
        raise Forbidden("run", f"cancel run {run.run_id} on disconnect; join it without "
                               "cancel_on_disconnect=true to follow it read-only") from None


def _background_only(body: RunCreate, where: str = "") -> None:
    if "on_disconnect" in body.model_fields_set:
        raise InvalidInput("on_disconnect only applies to /runs/stream and /runs/wait, not to background runs",
                           field=f"{where}on_disconnect")


async def _check_thread_run(core: Core, org: str, thread_id: str, body: RunCreate) -> None:
    """A run that starts from a checkpoint must name one that exists on this thread."""
    check_ref_thread(body.checkpoint, thread_id, "checkpoint")
    checkpoint_id = body.start_checkpoint_id()
    if checkpoint_id:
        cp = body.checkpoint.model_dump(exclude_none=True) if body.checkpoint else {}
        cp["checkpoint_id"] = checkpoint_id
        await require_checkpoint(core, org, thread_id, cp)


def _check_stateless_run(body: RunCreateStateless, where: str = "") -> None:
    """What ``Runs.create`` would refuse in a stateless run's payload, checked up front.

    ``/runs/batch`` relies on it (and on looking up each assistant): no run is created unless
    every item would be accepted.
    """
    if body.checkpoint is not None or body.checkpoint_id is not None:
        raise InvalidInput("a stateless run has no checkpoints to start from; use /threads/{thread_id}/runs",
                           field=f"{where}checkpoint_id" if body.checkpoint_id else f"{where}checkpoint")
    payload = body.payload()
    command = payload.get("command")
    if command and command.get("resume") is not None:
        raise InvalidInput("You must provide a thread_id when resuming.", field=f"{where}command")
    if payload.get("input") is not None and command:
        raise InvalidInput("send either input or command, not both", field=f"{where}command")


# --- runs on a thread -------------------------------------------------------------------------


@router.post("/threads/{thread_id}/runs", summary="Create a background run", dependencies=[RUN])
async def create(
    thread_id: ThreadId, body: RunCreate, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    _background_only(body)
    await _check_thread_run(core, org, thread_id, body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, thread_id, body.payload())
    return json_response(run_dict(run), headers=_locations(run, False, ""))


@router.post("/threads/{thread_id}/runs/stream", summary="Create a run and stream its events (SSE)", dependencies=[RUN])
async def create_stream(
    thread_id: ThreadId, body: RunCreate, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    await _check_thread_run(core, org, thread_id, body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, thread_id, body.payload())
    return _stream_run(core, org, run, stateless=False, on_disconnect=body.on_disconnect)


@router.post("/threads/{thread_id}/runs/wait", summary="Create a run and wait for its output", dependencies=[RUN])
async def create_wait(
    thread_id: ThreadId, body: RunCreate, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    await _check_thread_run(core, org, thread_id, body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, thread_id, body.payload())
    return _wait_run(core, org, run, stateless=False, on_disconnect=body.on_disconnect)


@router.get("/threads/{thread_id}/runs", summary="List a thread's runs", dependencies=[READ])
async def list_runs(
    thread_id: ThreadId, core: CoreDep, org: OrgDep,
    limit: int = Query(10, ge=1, le=1000), offset: OffsetQuery = 0,
    status: Literal["pending", "running", "error", "success", "timeout", "interrupted"] | None = None,
    select: list[RunField] | None = Query(None),
) -> Response:
    rows = await core.runs.list_runs(org, thread_id, limit=limit, offset=offset, status=status)
    out = [run_dict(r) for r in rows]
    if select:
        out = [{k: v for k, v in d.items() if k in select} for d in out]
    return json_response(out)


@router.get("/threads/{thread_id}/runs/{run_id}", summary="Get a run", dependencies=[READ])
async def get(thread_id: ThreadId, run_id: RunId, core: CoreDep, org: OrgDep) -> Response:
    return json_response(run_dict(await core.runs.get(org, thread_id, run_id)))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204, summary="Delete a finished run", dependencies=[RUN])
async def delete(
    thread_id: ThreadId, run_id: RunId, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    await authorize_on_run(core, who, thread_id, run_id)
    await core.runs.delete(org, thread_id, run_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/runs/{run_id}/join", summary="Wait for a run and return its output", dependencies=[READ])
async def join(
    thread_id: ThreadId, run_id: RunId, core: CoreDep, org: OrgDep, who: PrincipalDep,
    cancel_on_disconnect: bool = False,
) -> Response:
    run = await core.runs.get(org, thread_id, run_id)
    if cancel_on_disconnect:
        await _may_cancel_on_disconnect(core, who, run)
    return _wait_run(core, org, run, stateless=False, on_disconnect="cancel" if cancel_on_disconnect else "continue")


@router.get("/threads/{thread_id}/runs/{run_id}/stream", summary="Join a run's event stream (SSE)", dependencies=[READ])
async def join_stream(
    thread_id: ThreadId, run_id: RunId, core: CoreDep, org: OrgDep, who: PrincipalDep,
    cancel_on_disconnect: bool = False,
    stream_mode: list[str] | None = Query(None),
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    run = await core.runs.get(org, thread_id, run_id)
    if cancel_on_disconnect:
        await _may_cancel_on_disconnect(core, who, run)
    after = parse_last_event_id(last_event_id)
    wanted = _wanted_modes(stream_mode)

    async def cancel() -> None:
        await core.runs.cancel(org, None, run.run_id, "interrupt")

    events = core.runs.stream(org, thread_id, run_id, after=after, heartbeat=core.settings.heartbeat_interval)
    return sse_response(_filtered(events, wanted), headers=_locations(run, False, "stream"),
                        on_disconnect=cancel if cancel_on_disconnect else None)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", summary="Cancel a run", dependencies=[RUN])
async def cancel(
    thread_id: ThreadId, run_id: RunId, core: CoreDep, org: OrgDep, who: PrincipalDep,
    wait: bool = False, action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    await authorize_on_run(core, who, thread_id, run_id)
    await core.runs.cancel(org, thread_id, run_id, action)
    if wait:
        run = await core.runs.get(org, thread_id, run_id) if action == "interrupt" else None
        if run is not None:
            return _wait_run(core, org, run, stateless=False, on_disconnect="continue")
        return Response(status_code=204)
    return Response(status_code=202)


# --- stateless runs ---------------------------------------------------------------------------


@router.post("/runs", summary="Create a stateless background run", dependencies=[RUN])
async def create_stateless(
    body: RunCreateStateless, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    _background_only(body)
    _check_stateless_run(body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, None, body.payload())
    return json_response(run_dict(run), headers=_locations(run, True, ""))


@router.post("/runs/stream", summary="Create a stateless run and stream it (SSE)", dependencies=[RUN])
async def stream_stateless(
    body: RunCreateStateless, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    _check_stateless_run(body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, None, body.payload())
    return _stream_run(core, org, run, stateless=True, on_disconnect=body.on_disconnect)


@router.post("/runs/wait", summary="Create a stateless run and wait for its output", dependencies=[RUN])
async def wait_stateless(
    body: RunCreateStateless, core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    _check_stateless_run(body)
    await authorize_run(core, who, body)
    run = await core.runs.create(org, None, body.payload())
    return _wait_run(core, org, run, stateless=True, on_disconnect=body.on_disconnect)


@router.post("/runs/batch", summary="Create several stateless background runs", dependencies=[RUN])
async def batch(
    body: list[RunCreateStateless], core: CoreDep, org: OrgDep, who: PrincipalDep
) -> Response:
    for i, item in enumerate(body):  # all or nothing: check every item before creating any
        _background_only(item, f"[{i}].")
        _check_stateless_run(item, f"[{i}].")
        await authorize_run(core, who, item)
    runs = [await core.runs.create(org, None, item.payload()) for item in body]
    return json_response([run_dict(r) for r in runs])


@router.post("/runs/cancel", status_code=204, summary="Cancel runs by id or by status", dependencies=[RUN])
async def cancel_many(
    body: CancelMany, core: CoreDep, org: OrgDep, who: PrincipalDep,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Each run is checked as the single cancel checks it: ``run`` on its assistant.

    By ``run_ids``: all or nothing, a run the caller may not cancel is a 403 and none is
    cancelled (ids of other tenants' or unknown runs are ignored, as before). By ``status``:
    only the runs the caller may cancel are, the others are left alone.
    """
    if (body.run_ids is None) == (body.status is None):
        raise InvalidInput("send either run_ids (with thread_id) or status, not both", field="status")
    targets = await core.runs.find_many(org, thread_id=body.thread_id, run_ids=body.run_ids, status=body.status)
    allowed: list[str] = []
    for run_id, assistant_id in targets:
        try:
            await core.auth.permissions.require_on(who, "run", assistant_id, f"cancel run {run_id}")
        except Forbidden:
            if body.run_ids is not None:
                raise
            continue
        allowed.append(run_id)
    await core.runs.cancel_ids(org, allowed, action)
    return Response(status_code=204)


# --- thread join stream -----------------------------------------------------------------------


@router.get("/threads/{thread_id}/stream", summary="Follow every run on a thread (SSE, live)", dependencies=[READ])
async def thread_stream(thread_id: ThreadId, core: CoreDep, org: OrgDep) -> Response:
    await core.threads.get(org, thread_id)
    from nexod.events.base import END, GAP, thread_channel

    async def events() -> AsyncIterator[Event | None]:
        async with core.bus.subscribe(thread_channel(thread_id)) as sub:
            while True:
                ev = await sub.get(timeout=core.settings.heartbeat_interval)
                if ev is None or ev.event not in (END, GAP):
                    yield ev

    return sse_response(events())
