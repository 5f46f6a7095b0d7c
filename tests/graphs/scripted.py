"""Deterministic scripted chat model for crew tests (``NEXOD_LLM=python:tests.graphs.scripted:make``).

Answers from the prompt alone, so every run gives the same text: JSON when the prompt asks for
JSON (the review crew's verdict), ``task: agent`` lines when a manager is asked to assign
tasks, otherwise ``Answer <n>: <first words of the task>`` (plus ``revised: <feedback>`` when
a reviewer asked for changes, and ``facts: FACT-n…`` for each such code in the prompt). A CrewAI agent's prompt (``Current Task:``) gets CrewAI's text
tool format: one call of its first tool, then a ``Final Answer`` quoting what the tool returned.
An agent offered coworkers (``allow_delegation``) asks the first one a question, then answers
with ``coworker said: <their answer>``. Streams word by word with token usage, like a real model.
``SCRIPTED_TOKEN_DELAY`` (seconds) slows it down for tests that need a run in flight.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


def _text(m: BaseMessage) -> str:
    return m.content if isinstance(m.content, str) else str(m.content)


class ScriptedChatModel(BaseChatModel):
    """Replies computed from the last human message; counts words as tokens."""

    token_delay: float = 0.0
    model: str = "scripted-1"

    @property
    def _llm_type(self) -> str:
        return "scripted-test-double"

    def reply(self, messages: list[BaseMessage]) -> str:
        task = next((_text(m) for m in messages if m.type == "human" and "Current Task:" in _text(m)), None)
        if task is not None:
            return self.react(messages, task)
        prompt = next((_text(m) for m in reversed(messages) if m.type == "human"), "")
        if prompt.startswith("Observation: "):  # a coworker answered: use it
            first = next(_text(m) for m in messages if m.type == "human")
            said = prompt.removeprefix("Observation: ").split("\n")[0]
            return f"Answer {len(first)}: {' '.join(first.split()[:6])} coworker said: {said}"
        if "Action: Ask question to coworker" in prompt:  # may delegate: ask the first coworker
            coworker = re.search(r"help from a coworker:\n- (\w+):", prompt)
            topic = " ".join(prompt.split()[:3])
            return ("Thought: I will ask a coworker\nAction: Ask question to coworker\n"
                    f'Action Input: {{"question": "What matters in {topic}?", "context": "{topic}", '
                    f'"coworker": "{coworker.group(1) if coworker else "nobody"}"}}')
        if "Answer with JSON only" in prompt:
            return '{"verdict": "pass", "score": 8, "issues": ["none found"]}'
        if "Assign each task" in prompt:
            agents = re.findall(r"^- (\w+):", prompt.split("Tasks:")[0], re.M)
            tasks = re.findall(r"^- (\w+):", prompt.split("Tasks:")[1], re.M)
            return "\n".join(f"{t}: {agents[-1]}" for t in tasks)
        words = prompt.split()[:6]
        text = f"Answer {len(prompt)}: {' '.join(words)}"
        facts = sorted(set(re.findall(r"FACT-\d+", prompt)))
        if facts:  # shows which passages reached the prompt (knowledge-search tests)
            text += f" facts: {' '.join(facts)}"
        fb = re.search(r"asked for changes: (.*)", prompt)
        if fb:
            text += f" revised: {fb.group(1).strip()}"
        return text

    def react(self, messages: list[BaseMessage], task: str) -> str:
        """A CrewAI agent's turn (its text tool format): call the first tool once, then answer
        with what it observed."""
        system = next((_text(m) for m in messages if m.type == "system"), "")
        tools = re.search(r"only one name of \[([^\]]*)\]", system)
        observed = [_text(m).split("Observation:", 1)[1].strip() for m in messages
                    if m.type == "ai" and "Observation:" in _text(m)]
        words = task.split("Current Task:", 1)[1].split()[:6]
        if tools and not observed:
            name = tools.group(1).split(",")[0].strip()
            arg = re.search(r'"properties": \{\s*"(\w+)"', system.split(f"Tool Name: {name}", 1)[-1])
            value = " ".join(words[:3])
            return (f"Thought: I should use {name}\nAction: {name}\n"
                    f'Action Input: {{"{arg.group(1) if arg else "query"}": "{value}"}}')
        answer = f"Answer {len(task)}: {' '.join(words)}"
        if observed:
            answer += f" observed: {observed[-1]}"
        return f"Thought: I now know the final answer\nFinal Answer: {answer}"

    def _usage(self, messages: list[BaseMessage], text: str) -> UsageMetadata:
        inp = sum(len(_text(m).split()) for m in messages)
        out = len(text.split())
        return UsageMetadata(input_tokens=inp, output_tokens=out, total_tokens=inp + out)

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> ChatResult:
        text = self.reply(messages)
        msg = AIMessage(content=text, usage_metadata=self._usage(messages, text),
                        response_metadata={"model_name": self.model})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = self.reply(messages)
        for i, word in enumerate(text.split(" ")):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata=self._usage(messages, text), response_metadata={"model_name": self.model}))

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kwargs):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def make() -> ScriptedChatModel:
    """The factory ``NEXOD_LLM=python:tests.graphs.scripted:make`` names."""
    return ScriptedChatModel(token_delay=float(os.environ.get("SCRIPTED_TOKEN_DELAY", "0")))
