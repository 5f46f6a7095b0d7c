"""CrewAI's deployment REST contract (AMP), one crew per ``/crews/{crew_id}`` prefix.

``GET /crews`` lists crews; under each: ``GET /inputs``, ``POST /kickoff``,
``GET /status/{kickoff_id}``, ``POST /resume``, ``POST /stop/{kickoff_id}``. Errors use AMP's
envelope ``{"error": title, "message": detail}`` plus our ``detail``, so both kinds of client
can read them. Executions are runs (see :mod:`nexod.runs.kickoffs`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from nexod.api.deps import APPROVE, READ, RUN, CoreDep, OrgDep, PrincipalDep
from nexod.auth.base import Permission, Principal
from nexod.crews.spec import MissingInputs
from nexod.errors import InvalidInput, NotFound
from nexod.runs.kickoffs import Kickoffs, NotPendingHumanInput

router = APIRouter(tags=["crews"])
CrewId = Annotated[str, Path(description="Crew id, as named in nexod.json")]


class WebhookAuth(BaseModel):
    """How to authenticate to a webhook."""

    model_config = ConfigDict(extra="forbid")
    strategy: Literal["bearer", "basic"]
    token: str | None = None
    username: str | None = None
    password: str | None = None


class Webhook(BaseModel):
    """A webhook target with optional authentication."""

    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    authentication: WebhookAuth | None = None


class EventWebhook(Webhook):
    """AMP's event-streaming webhook: which crew events to post, and where."""

    events: list[str] = Field(default_factory=list)
    realtime: bool = False


class Kickoff(BaseModel):
    """``POST /kickoff``: the crew's inputs and where to report."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] | None = None
    taskWebhookUrl: AnyHttpUrl | None = None
    stepWebhookUrl: AnyHttpUrl | None = None
    crewWebhookUrl: AnyHttpUrl | None = None
    webhooks: EventWebhook | None = None
    humanInputWebhook: Webhook | None = None


class Resume(BaseModel):
    """``POST /resume``: a person's answer to a task with ``human_input: true``."""

    model_config = ConfigDict(extra="forbid")
    execution_id: str
    task_id: str
    human_feedback: str = ""
    is_approve: bool
    by: str | None = Field(None, description="Who answered (recorded with the decision).")
    taskWebhookUrl: AnyHttpUrl | None = None
    stepWebhookUrl: AnyHttpUrl | None = None
    crewWebhookUrl: AnyHttpUrl | None = None


def _hooks(body: Kickoff | Resume) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("taskWebhookUrl", "stepWebhookUrl", "crewWebhookUrl"):
        value = getattr(body, key)
        if value is not None:
            out[key] = str(value)
    if isinstance(body, Kickoff):
        if body.webhooks is not None:
            out["webhooks"] = body.webhooks.model_dump(mode="json")
        if body.humanInputWebhook is not None:
            out["humanInputWebhook"] = body.humanInputWebhook.model_dump(mode="json")
    return out


def _error(status: int, title: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": title, "message": message, "detail": message, **extra}, status_code=status)


async def _may(core: Any, who: Principal, crew_id: str, permission: Permission, what: str) -> None:
    """403 unless the caller holds ``permission`` on the crew's assistant (per-crew grants are
    grants on that assistant); an unknown crew is left to the handler's 404."""
    try:
        row = await core.assistants.get(who.org_id, crew_id)
    except NotFound:
        return
    await core.auth.permissions.require_on(who, permission, row.assistant_id, what)


def _kickoffs(core: Any) -> Kickoffs:
    return Kickoffs(core.registry, core.runs, core.threads, core.state)


@router.get("/crews", summary="List crews with their inputs, agents and tasks", dependencies=[READ])
async def list_crews(core: CoreDep) -> list[dict[str, Any]]:
    return [
        {"crew_id": cid, "description": c.description, "process": c.process, "inputs": c.inputs,
         "agents": [a.name for a in c.agents], "tasks": [t.name for t in c.tasks],
         "human_input_tasks": [t.name for t in c.tasks if t.human_input]}
        for cid, c in core.registry.crews().items()
    ]


@router.get("/crews/{crew_id}/inputs", summary="The inputs a crew's kickoff needs", dependencies=[READ])
async def inputs(crew_id: CrewId, core: CoreDep) -> Any:
    try:
        return {"inputs": core.registry.crew(crew_id).inputs}
    except NotFound as exc:
        return _error(404, "Crew not found", exc.message)


@router.post("/crews/{crew_id}/kickoff", summary="Start a crew execution", dependencies=[RUN])
async def kickoff(crew_id: CrewId, body: Kickoff, core: CoreDep, org: OrgDep, who: PrincipalDep) -> Any:
    await _may(core, who, crew_id, "run", f"kick off crew {crew_id}")
    try:
        kid = await _kickoffs(core).kickoff(org, crew_id, body.inputs, meta=body.meta, webhooks=_hooks(body))
    except NotFound as exc:
        return _error(404, "Crew not found", exc.message)
    except MissingInputs as exc:
        return _error(422, "Validation Error", "Missing required inputs", field="inputs",
                      details={"missing_inputs": exc.missing}, reason=exc.message)
    except InvalidInput as exc:
        return _error(422, "Validation Error", exc.message, field=exc.field)
    return {"kickoff_id": kid}


@router.get("/crews/{crew_id}/status/{kickoff_id}", summary="Status of a crew execution", dependencies=[READ])
async def status(crew_id: CrewId, kickoff_id: str, core: CoreDep, org: OrgDep) -> Any:
    try:
        return await _kickoffs(core).status(org, crew_id, kickoff_id)
    except NotFound as exc:
        return _error(404, "Execution not found", exc.message)


@router.post("/crews/{crew_id}/resume", summary="Answer a task waiting for human input", dependencies=[APPROVE])
async def resume(crew_id: CrewId, body: Resume, core: CoreDep, org: OrgDep, who: PrincipalDep) -> Any:
    await _may(core, who, crew_id, "approve", f"answer a task of crew {crew_id}")
    try:
        result = await _kickoffs(core).resume(
            org, crew_id, body.execution_id, task_id=body.task_id, feedback=body.human_feedback,
            approve=body.is_approve, by=body.by, webhooks=_hooks(body),
        )
    except NotFound as exc:
        return _error(404, "Execution not found", exc.message)
    except NotPendingHumanInput as exc:
        return _error(400, "Bad Request", exc.message)
    except InvalidInput as exc:
        return _error(422, "Validation Error", exc.message, field=exc.field)
    message = "Execution resumed" if result == "resumed" else "Task will run again with the feedback"
    return {"status": result, "message": message}


@router.post("/crews/{crew_id}/stop/{kickoff_id}", summary="Stop a running crew execution", dependencies=[RUN])
async def stop(crew_id: CrewId, kickoff_id: str, core: CoreDep, org: OrgDep, who: PrincipalDep) -> Any:
    await _may(core, who, crew_id, "run", f"stop crew {crew_id}")
    try:
        stopped = await _kickoffs(core).stop(org, crew_id, kickoff_id)
    except NotFound as exc:
        return _error(404, "Execution not found", exc.message)
    return {"status": "stopped" if stopped else "not_running"}
