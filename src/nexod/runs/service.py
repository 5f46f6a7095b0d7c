"""Run operations behind the API: create (with multitask rules), read, cancel, join, stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from nexod.db.engine import reader
from nexod.db.models import AgentSession, Assistant, Thread
from nexod.db.rows import to_model, values_of
from nexod.errors import Conflict, IdTaken, InvalidInput, NotFound
from nexod.events.base import CANCEL, END, GAP, WAKE, Event, EventBus, control, run_channel
from nexod.events.log import EventLog
from nexod.graphs.registry import GraphRegistry
from nexod.resources.assistants import Assistants
from nexod.runs.queue import TERMINAL
from nexod.serde import as_utc, loads, new_id, utcnow


def _redacted(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run kwargs without webhook credentials (kept for delivery, never shown)."""
    hooks = kwargs.get("crew_webhooks")
    if not isinstance(hooks, dict):
        return kwargs
    shown = {k: ({**v, "authentication": "***"} if isinstance(v, dict) and v.get("authentication") else v)
             for k, v in hooks.items()}
    return {**kwargs, "crew_webhooks": shown}


def run_dict(row: AgentSession) -> dict[str, Any]:
    """The wire form of a run."""
    return {
        "run_id": row.run_id,
        "thread_id": row.thread_id,
        "assistant_id": row.assistant_id,
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
        "status": row.status,
        "metadata": row.metadata_,
        "kwargs": _redacted(row.kwargs),
        "multitask_strategy": row.multitask_strategy,
    }


class Runs:
    """Create, read, cancel and follow runs within one organisation."""

    def __init__(
        self,
        engine: AsyncEngine,
        assistants: Assistants,
        events: EventLog,
        bus: EventBus,
        registry: GraphRegistry | None = None,
    ) -> None:
        self._registry = registry
        self._engine = engine
        self._reads = reader(engine)
        self._assistants = assistants
        self._events = events
        self._bus = bus
        self._timers: set[asyncio.TimerHandle] = set()

    async def wake_workers(self) -> None:
        """Tell every worker (in any process) that a run may be ready to claim."""
        await self._bus.publish(WAKE, [control("wake")])

    def _wake_later(self, delay: float) -> None:
        """Wake workers when a delayed run becomes due (their slow poll is the fallback)."""
        def fire() -> None:
            self._timers.discard(handle)
            task = asyncio.ensure_future(self.wake_workers())
            task.add_done_callback(lambda t: t.exception())

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    async def create(
        self, org_id: str, thread_id: str | None, payload: dict[str, Any]
    ) -> AgentSession:
        """Queue a run. ``thread_id=None`` makes a stateless run on a temporary thread.

        Raises NotFound (assistant, or thread with ``if_not_exists=reject``), Conflict
        (busy thread with ``multitask_strategy=reject``) and IdTaken (``if_not_exists=create``
        naming another organisation's thread); on error nothing is written.
        """
        command = payload.get("command")
        if thread_id is None and command and command.get("resume") is not None:
            raise InvalidInput("You must provide a thread_id when resuming.", field="command")
        if payload.get("input") is not None and command:
            raise InvalidInput("send either input or command, not both", field="command")
        now = utcnow()
        run_id = ""  # taken under the thread lock, below
        strategy = payload.get("multitask_strategy") or "enqueue"
        temporary = thread_id is None
        kwargs = {k: v for k, v in payload.items()
                  if k not in ("assistant_id", "metadata", "multitask_strategy", "if_not_exists",
                               "after_seconds")}
        if temporary:
            kwargs.setdefault("on_completion", "delete")
            thread_id = str(uuid.uuid4())
        kwargs["temporary"] = temporary
        to_cancel: list[str] = []
        async with self._engine.begin() as s:
            aid = self._assistants.resolve_id(payload["assistant_id"], org_id)
            found = (await s.execute(
                select(Assistant).where(Assistant.assistant_id == aid, Assistant.org_id == org_id)
            )).first()
            if found is None:
                raise NotFound("assistant", payload["assistant_id"])
            assistant = to_model(Assistant, found)
            self._check_crew_input(assistant.graph_id, payload.get("input"))
            run = AgentSession(
                run_id=run_id, org_id=org_id, thread_id=thread_id, assistant_id=assistant.assistant_id,
                status="pending", metadata_=payload.get("metadata") or {}, kwargs=kwargs,
                multitask_strategy=strategy, created_at=now, updated_at=now,
                available_at=now + timedelta(seconds=float(payload.get("after_seconds") or 0)),
                attempt=0, temporary=temporary,
            )
            stamp = {"graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id}
            # Taking the thread row's write lock first serialises run creation per thread,
            # so two concurrent creates cannot both see an idle thread.
            locked = (
                await s.execute(
                    update(Thread).where(Thread.thread_id == thread_id, Thread.org_id == org_id)
                    .values(updated_at=now, status="busy")
                    .returning(Thread.metadata_)
                )
            ).first()
            if locked is None:
                if not temporary and payload.get("if_not_exists", "reject") != "create":
                    raise NotFound("thread", thread_id)
                try:
                    await s.execute(insert(Thread).values(
                        thread_id=thread_id, org_id=org_id, status="busy", metadata_=stamp, config={},
                        values=None, interrupts={}, created_at=now, updated_at=now,
                    ))
                except IntegrityError as exc:
                    # Another organisation's thread (or one created meanwhile): the same
                    # answer as POST /threads under a taken id, nothing written.
                    raise IdTaken("thread", thread_id) from exc
            else:
                active = list(
                    (
                        await s.scalars(
                            select(AgentSession.run_id).where(
                                AgentSession.thread_id == thread_id,
                                AgentSession.status.in_(("pending", "running")),
                            )
                        )
                    ).all()
                )
                if active and strategy == "reject":
                    raise Conflict(
                        f"Thread '{thread_id}' is already running a task. Wait for it to finish "
                        "or choose a different multitask strategy (enqueue, interrupt, rollback)."
                    )
                if active and strategy in ("interrupt", "rollback"):
                    to_cancel = active
                meta = locked[0] or {}
                if any(meta.get(k) != v for k, v in stamp.items()):
                    await s.execute(
                        update(Thread).where(Thread.thread_id == thread_id).values(metadata_={**meta, **stamp})
                    )
            # The id is taken once the thread is locked: on one thread, id order is the order
            # creates committed in, which is the order the queue runs them in.
            run.run_id = new_id()
            run.created_at = run.updated_at = utcnow()
            await s.execute(insert(AgentSession).values(**values_of(run)))
        for rid in to_cancel:
            await self._cancel(org_id, rid, strategy)
        await self.wake_workers()
        delay = float(payload.get("after_seconds") or 0)
        if delay > 0:
            self._wake_later(delay)
        return run

    def _check_crew_input(self, graph_id: str, graph_input: Any) -> None:
        """A crew's inputs are checked before its run is queued: a missing one is a 422."""
        crew = self._registry.crews().get(graph_id) if self._registry is not None else None
        if crew is None or graph_input is None:
            return
        inputs = graph_input.get("inputs", {}) if isinstance(graph_input, dict) else None
        if not isinstance(inputs, dict):
            raise InvalidInput(
                f"crew '{graph_id}' takes input {{\"inputs\": {{...}}}} with {', '.join(crew.inputs) or 'no keys'}",
                field="input",
            )
        crew.check_inputs(inputs)

    async def get(self, org_id: str, thread_id: str | None, run_id: str) -> AgentSession:
        """One run; NotFound when missing, on another thread, or another tenant's."""
        async with self._reads.connect() as s:
            found = (await s.execute(select(AgentSession).where(AgentSession.run_id == run_id))).first()
        row = None if found is None else to_model(AgentSession, found)
        if row is None or row.org_id != org_id or (thread_id is not None and row.thread_id != thread_id):
            raise NotFound("run", run_id)
        return row

    async def list_runs(
        self, org_id: str, thread_id: str, *, limit: int = 10, offset: int = 0, status: str | None = None
    ) -> list[AgentSession]:
        """Runs of a thread, newest first."""
        async with self._engine.begin() as s:
            owner = await s.scalar(select(Thread.org_id).where(Thread.thread_id == thread_id))
            if owner != org_id:
                raise NotFound("thread", thread_id)
            q = select(AgentSession).where(AgentSession.thread_id == thread_id, AgentSession.org_id == org_id)
            if status:
                q = q.where(AgentSession.status == status)
            q = q.order_by(AgentSession.run_id.desc()).limit(limit).offset(offset)
            return [to_model(AgentSession, r) for r in (await s.execute(q)).all()]

    async def recent(
        self, org_id: str, *, limit: int = 20, statuses: tuple[str, ...] | None = None
    ) -> list[AgentSession]:
        """The organisation's runs on every thread, newest first (``statuses`` narrows them)."""
        q = select(AgentSession).where(AgentSession.org_id == org_id)
        if statuses:
            q = q.where(AgentSession.status.in_(statuses))
        q = q.order_by(AgentSession.created_at.desc(), AgentSession.run_id.desc()).limit(limit)
        async with self._reads.connect() as s:
            return [to_model(AgentSession, r) for r in (await s.execute(q)).all()]

    async def count_by_status(self, org_id: str) -> dict[str, int]:
        """How many of the organisation's runs are in each status."""
        q = (select(AgentSession.status, func.count()).where(AgentSession.org_id == org_id)
             .group_by(AgentSession.status))
        async with self._reads.connect() as s:
            return {status: int(n) for status, n in (await s.execute(q)).all()}

    async def delete(self, org_id: str, thread_id: str, run_id: str) -> None:
        """Delete a finished run and its events; Conflict while it is active."""
        run = await self.get(org_id, thread_id, run_id)
        if run.status in ("pending", "running"):
            raise Conflict(f"run '{run_id}' is {run.status}; cancel it before deleting it")
        async with self._engine.begin() as s:
            await s.execute(delete(AgentSession).where(AgentSession.run_id == run_id))

    async def cancel(self, org_id: str, thread_id: str | None, run_id: str, action: str) -> None:
        """Cancel a pending or running run (``interrupt`` keeps progress, ``rollback`` undoes it)."""
        await self.get(org_id, thread_id, run_id)
        await self._cancel(org_id, run_id, action)

    async def _cancel(self, org_id: str, run_id: str, action: str) -> None:
        now = utcnow()
        async with self._engine.begin() as s:
            run_thread = await s.scalar(select(AgentSession.thread_id).where(AgentSession.run_id == run_id))
            if run_thread is None:
                return
            # A pending run never started: settle it here.
            if action == "rollback":
                res = await s.execute(
                    delete(AgentSession).where(AgentSession.run_id == run_id, AgentSession.status == "pending")
                )
            else:
                res = await s.execute(
                    update(AgentSession)
                    .where(AgentSession.run_id == run_id, AgentSession.status == "pending")
                    .values(status="interrupted", updated_at=now, ended_at=now)
                )
            settled = bool(res.rowcount)
        if settled:
            self._events.end(run_id, run_thread, b"{}")
            await self._settle_thread_if_idle(run_thread)
            return
        async with self._engine.begin() as s:
            await s.execute(
                update(AgentSession)
                .where(AgentSession.run_id == run_id, AgentSession.status == "running")
                .values(cancel_action=action, updated_at=now)
            )
        # The worker that owns the run hears this at once; if the bus is down it reads
        # cancel_action at its next lease renewal.
        await self._bus.publish(CANCEL, [control("cancel", run_id, action.encode())])

    async def _settle_thread_if_idle(self, thread_id: str) -> None:
        """After cancelling a pending run, a thread with nothing else queued is no longer busy."""
        async with self._engine.begin() as s:
            active = await s.scalar(
                select(AgentSession.run_id).where(
                    AgentSession.thread_id == thread_id, AgentSession.status.in_(("pending", "running"))
                ).limit(1)
            )
            if active is None:
                await s.execute(
                    update(Thread).where(Thread.thread_id == thread_id, Thread.status == "busy")
                    .values(status="idle")
                )

    async def cancel_thread_runs(self, org_id: str, thread_id: str) -> None:
        """Stop every pending or running run of a thread (before the thread is deleted)."""
        async with self._engine.begin() as s:
            ids = list((await s.scalars(
                select(AgentSession.run_id).where(
                    AgentSession.org_id == org_id, AgentSession.thread_id == thread_id,
                    AgentSession.status.in_(("pending", "running")),
                )
            )).all())
        for rid in ids:
            await self._cancel(org_id, rid, "interrupt")

    async def find_many(
        self, org_id: str, *, thread_id: str | None, run_ids: list[str] | None, status: str | None,
    ) -> list[tuple[str, str]]:
        """(run id, assistant id) of the organisation's runs named by ids (on a thread, when
        given), or of every run in a status (pending / running / all): what a bulk cancel
        would touch. Unknown ids and other tenants' runs are simply not there."""
        async with self._engine.begin() as s:
            q = select(AgentSession.run_id, AgentSession.assistant_id).where(AgentSession.org_id == org_id)
            if run_ids:
                q = q.where(AgentSession.run_id.in_(run_ids))
                if thread_id:
                    q = q.where(AgentSession.thread_id == thread_id)
            else:
                wanted = ("pending", "running") if status == "all" else (status,)
                q = q.where(AgentSession.status.in_(wanted))
            return [(r, a) for r, a in (await s.execute(q)).all()]

    async def cancel_ids(self, org_id: str, run_ids: list[str], action: str) -> None:
        """Cancel each of these runs of the organisation (already checked by the caller)."""
        for rid in run_ids:
            await self._cancel(org_id, rid, action)

    def output_of(self, run: AgentSession, thread: Thread | None) -> Any:
        """The final output of a finished run, rebuilt from the database."""
        if run.status in ("error", "timeout"):
            return {"__error__": run.error or {"error": run.status, "message": run.status}}
        if thread is None:
            return {}
        values = thread.values if thread.values is not None else {}
        intr = [i for lst in (thread.interrupts or {}).values() for i in lst]
        if intr and isinstance(values, dict):
            return {**values, "__interrupt__": intr}
        return values

    async def join(self, org_id: str, thread_id: str | None, run_id: str) -> AsyncIterator[Any]:
        """Wait for a run to end; yields None as a keep-alive tick, then the final output.

        The caller has checked that the run exists; the one read here comes after subscribing,
        so an end published in between is not missed.
        """
        async with self._bus.subscribe(run_channel(run_id)) as sub:
            run = await self.get(org_id, thread_id, run_id)
            while run.status not in TERMINAL:
                ev = await sub.get(timeout=5.0)
                if ev is None:
                    yield None
                    try:
                        run = await self.get(org_id, thread_id, run_id)
                    except NotFound:  # rolled back
                        yield {}
                        return
                    continue
                if ev.event == END:
                    yield loads(ev.data)
                    return
        async with self._reads.connect() as s:
            found = (await s.execute(select(Thread).where(Thread.thread_id == run.thread_id))).first()
        yield self.output_of(run, None if found is None else to_model(Thread, found))

    async def stream(
        self, org_id: str, thread_id: str | None, run_id: str, *, after: int | None,
        heartbeat: float,
    ) -> AsyncIterator[Event | None]:
        """Events of a run: stored ones after ``after`` (None: only new ones), then live ones.

        Yields None when ``heartbeat`` seconds pass with nothing to send; ends with the run.
        Live delivery may lose messages (a broker outage): a gap in the event ids, a bus
        :data:`GAP` marker or a quiet heartbeat fetches what was missed from the event log, so
        the client sees every event once and in order.
        """
        async with self._bus.subscribe(run_channel(run_id)) as sub:
            run = await self.get(org_id, thread_id, run_id)
            never_started = run.status == "pending" and run.started_at is None
            if never_started:
                last = 0  # nothing stored yet: skip the read (a new run's own stream)
            elif after is not None:
                last = after
                for ev in await self._events.read(org_id, run_id, after):
                    last = ev.seq
                    yield ev
            else:
                last = await self._events.last_seq(run_id)
            if run.status in TERMINAL:
                return
            while True:
                live = await sub.get(timeout=heartbeat)
                if live is not None and live.event == END:
                    if live.seq > last:  # events lost on the way: the log has them
                        for late in await self._events.read(org_id, run_id, last):
                            yield late
                    return
                if live is None or live.event == GAP:
                    if live is None:
                        yield None
                    for late in await self._events.read(org_id, run_id, last):
                        last = late.seq
                        yield late
                    try:
                        run = await self.get(org_id, thread_id, run_id)
                    except NotFound:
                        return
                    if run.status in TERMINAL:
                        for late in await self._events.read(org_id, run_id, last):
                            last = late.seq
                            yield late
                        return
                    continue
                if live.seq <= last:
                    continue
                if live.seq > last + 1:  # lost on the way: the log has them
                    for late in await self._events.read(org_id, run_id, last):
                        if late.seq >= live.seq:
                            break
                        last = late.seq
                        yield late
                last = live.seq
                yield live
