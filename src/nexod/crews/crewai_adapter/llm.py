"""A CrewAI ``BaseLLM`` that answers with a LangChain chat model: Nexod's configured model.

Import only after :func:`nexod.crews.crewai_adapter.require_crewai`. CrewAI calls ``call``
from its worker threads; the chat model is the one given (``chat_model``), else Nexod's model
for ``spec`` (None: ``NEXOD_LLM``) from the current run. The call runs with the graph node's
config, so LangGraph's ``messages`` stream mode streams the tokens of CrewAI's agents too.
No native function calling is declared, so agents use CrewAI's text (ReAct) tool format,
which works with any model, small local ones included.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from nexod.crews.crewai_adapter.scope import current

_ROLES: dict[str, type[BaseMessage]] = {"system": SystemMessage, "assistant": AIMessage}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "agent"


def to_langchain(messages: str | list[Any]) -> list[BaseMessage]:
    """CrewAI's ``[{"role", "content"}]`` messages (or one string) as LangChain messages."""
    if isinstance(messages, str):
        return [HumanMessage(messages)]
    out: list[BaseMessage] = []
    for m in messages:
        content = m.get("content") or ""
        if not isinstance(content, str):
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        out.append(_ROLES.get(str(m.get("role")), HumanMessage)(content))
    return out


def _text(reply: BaseMessage) -> str:
    content = reply.content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


class NexodLLM(BaseLLM):
    """CrewAI's model seam pointed at Nexod: ``Agent(llm=NexodLLM())`` or left to Nexod, which
    gives every agent of a registered crew one (keeping a ``spec`` set here)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = "nexod"
    llm_type: str = "nexod"
    spec: str | None = Field(None, description="Nexod model spec (`local`, `openai:<model>`…); "
                             "None: NEXOD_LLM.")
    chat_model: BaseChatModel | None = Field(
        None, exclude=True, description="Answer with this LangChain chat model instead.")

    def __init__(self, **data: Any) -> None:
        data.setdefault("model", data.get("spec") or "nexod")
        super().__init__(**data)

    def get_input_tokens_count(self, messages: str | list[Any], tools: list[dict[str, Any]] | None = None,
                               response_model: type[BaseModel] | None = None) -> int:
        """CrewAI's estimate (four characters a token), without its warning on every call."""
        text = messages if isinstance(messages, str) else "".join(
            str(m.get("content") or "") for m in messages)
        return (len(text) + 3) // 4

    def _model(self) -> tuple[BaseChatModel, str]:
        if self.chat_model is not None:
            return self.chat_model, self.spec or "chat_model"
        scope = current()
        if scope is None:
            raise RuntimeError("NexodLLM without chat_model only answers inside a Nexod crew run")
        return scope.models.get(self.spec), self.spec or "default"

    def call(
        self, messages: str | list[Any], tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None, available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None, from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        """One model call: CrewAI's events and hooks around LangChain's ``invoke``."""
        with llm_call_context():
            self._emit_call_started_event(messages=messages, tools=tools, callbacks=callbacks,
                                          available_functions=available_functions,
                                          from_task=from_task, from_agent=from_agent)
            try:
                formatted = self._format_messages(messages)
                self._invoke_before_llm_call_hooks(formatted, from_agent)
                text, usage = self._invoke(formatted, from_task, from_agent, response_model)
                text = self._invoke_after_llm_call_hooks(formatted, text, from_agent)
            except Exception as exc:
                self._emit_call_failed_event(error=f"model call failed: {exc!s}",
                                             from_task=from_task, from_agent=from_agent)
                raise
            self._emit_call_completed_event(response=text, call_type=LLMCallType.LLM_CALL,
                                            from_task=from_task, from_agent=from_agent,
                                            messages=formatted, usage=usage)
        if response_model is not None:
            try:
                return self._validate_structured_output(text, response_model)
            except ValueError:
                return text  # CrewAI's converter asks again
        return text

    async def acall(
        self, messages: str | list[Any], tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None, available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None, from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        """``call`` in a worker thread (the chat model's sync path, the loop never blocks)."""
        return await asyncio.to_thread(self.call, messages, tools, callbacks, available_functions,
                                       from_task, from_agent, response_model)

    def _invoke(self, messages: list[Any], task: Any, agent: Any,
                response_model: type[BaseModel] | None) -> tuple[str, dict[str, Any]]:
        model, spec = self._model()
        scope = current()
        role = str(getattr(agent, "role", "") or "agent")
        agent_key = (scope.agent_names.get(str(getattr(agent, "id", ""))) if scope else None) or _slug(role)
        task_key = (scope.task_names.get(str(getattr(task, "id", ""))) if scope else None) or ""
        config: dict[str, Any] = dict(scope.config or {}) if scope else {}
        config["metadata"] = {**config.get("metadata", {}), "crew_agent": role, "crew_task": task_key}
        config["tags"] = [*config.get("tags", []), f"agent:{agent_key}"]
        extra: dict[str, Any] = {}
        if response_model is not None:
            extra["response_format"] = {"type": "json_schema", "json_schema": {
                "name": response_model.__name__, "schema": response_model.model_json_schema()}}
        stop = list(self.stop_sequences) or None
        reply = model.invoke(to_langchain(messages), config, stop=stop, **extra)  # type: ignore[arg-type]
        text = self._apply_stop_words(_text(reply))
        meta = getattr(reply, "usage_metadata", None) or {}
        inp, out = int(meta.get("input_tokens") or 0), int(meta.get("output_tokens") or 0)
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out,
                 "successful_requests": 1}
        self._track_token_usage_internal(usage)
        if scope is not None:
            resp = getattr(reply, "response_metadata", None) or {}
            name = str(resp.get("model_name") or resp.get("model") or spec)
            scope.add_usage(agent_key, {
                "input_tokens": inp, "output_tokens": out, "total_tokens": inp + out, "calls": 1,
                "cost": scope.models.cost(name, inp, out), "models": [name]})
        return text, usage
