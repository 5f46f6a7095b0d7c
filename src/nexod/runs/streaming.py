"""Turn LangGraph ``astream`` output into the LangGraph Server's SSE events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage, BaseMessageChunk

from nexod.resources.state import interrupt_dict
from nexod.serde import to_jsonable

Emit = Callable[[str, Any], None]

STREAM_MODES = frozenset(
    {"values", "updates", "messages", "messages-tuple", "custom", "events", "debug", "checkpoints", "tasks"}
)


def graph_modes(requested: list[str]) -> list[str]:
    """The LangGraph stream modes to ask for: what was requested plus values/updates we need."""
    modes = {"values", "updates"}
    for m in requested:
        if m in ("messages", "messages-tuple"):
            modes.add("messages")
        elif m != "events":
            modes.add(m)
    return sorted(modes)


class ChunkMapper:
    """Maps one run's stream chunks to SSE events and remembers its final output."""

    def __init__(self, requested: list[str], *, subgraphs: bool, emit: Emit) -> None:
        self.requested = set(requested)
        self.subgraphs = subgraphs
        self._emit = emit
        self.last_values: Any = None
        self.interrupts: list[dict[str, Any]] = []
        self._partial: dict[str, BaseMessageChunk] = {}

    def _name(self, mode: str, ns: tuple[str, ...]) -> str:
        return mode if not ns else "|".join((mode, *ns))

    def handle(self, ns: tuple[str, ...], mode: str, chunk: Any) -> None:
        """Handle one ``(namespace, mode, chunk)`` item of ``astream(..., subgraphs=True)``."""
        root = not ns
        if mode == "messages":
            self._messages(ns, chunk)
            return
        if not root and not self.subgraphs:
            return
        if mode == "updates" and isinstance(chunk, dict) and "__interrupt__" in chunk:
            intr = [interrupt_dict(i) for i in chunk["__interrupt__"]]
            if root:
                self.interrupts.extend(intr)
            if "updates" in self.requested:
                self._emit(self._name("updates", ns), {"__interrupt__": intr})
            elif "values" in self.requested:
                self._emit(self._name("values", ns), {"__interrupt__": intr})
            return
        if mode == "values" and root:
            self.last_values = chunk
        if mode in self.requested:
            self._emit(self._name(mode, ns), chunk)  # serialised once, by the emitter

    def _messages(self, ns: tuple[str, ...], item: Any) -> None:
        msg, meta = item
        if not ns or self.subgraphs:
            name_ns = ns
        else:
            name_ns = ()
        if "messages-tuple" in self.requested:
            self._emit(self._name("messages", name_ns), [msg, meta])
        if "messages" in self.requested and isinstance(msg, BaseMessage):
            mid = msg.id or ""
            if isinstance(msg, BaseMessageChunk):
                if mid not in self._partial:
                    self._emit("messages/metadata", {mid: {"metadata": meta}})
                    self._partial[mid] = msg
                else:
                    self._partial[mid] = self._partial[mid] + msg
                    if not msg.content and not getattr(msg, "tool_call_chunks", None):
                        return  # nothing new to show (e.g. the closing empty chunk)
                self._emit("messages/partial", [self._partial[mid]])
            else:
                if mid not in self._partial:
                    self._emit("messages/metadata", {mid: {"metadata": meta}})
                self._emit("messages/complete", [msg])

    def output(self) -> Any:
        """What ``/wait`` and ``/join`` return: final values, plus ``__interrupt__`` if any."""
        values = to_jsonable(self.last_values) if self.last_values is not None else {}
        if self.interrupts:
            if isinstance(values, dict):
                return {**values, "__interrupt__": self.interrupts}
            return {"__interrupt__": self.interrupts}
        return values
