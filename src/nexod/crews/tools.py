"""Tools an agent may name in ``agents.yaml`` (``tools: [knowledge_search]``).

A tool is looked up by name in a registry of factories, each called once per crew with the
crew's spec. The built-in ``knowledge_search`` asks the run's organisation's knowledge base
(hybrid search, with citations) and the crew's own ``knowledge/`` folder of documents that ship
with it; pass another factory under the same name to replace it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from nexod.crews.spec import CrewSpec
from nexod.errors import NotFound
from nexod.scope import current_run


class Tool(Protocol):
    """Something an agent can consult before it answers."""

    name: str
    description: str

    async def __call__(self, query: str) -> str:
        """The tool's answer to ``query`` as text for the agent's prompt ('' when nothing)."""
        ...


ToolFactory = Callable[[CrewSpec], Tool]

log = logging.getLogger("nexod.crews")

_WORD = re.compile(r"[a-z0-9]{3,}")


class FolderSearch:
    """Keyword search over the paragraphs of the ``.md`` / ``.txt`` files in a folder."""

    name = "knowledge_search"
    description = "Search the crew's documents for passages about the query."

    def __init__(self, folder: Path | None, *, top_k: int = 3, max_chars: int = 1200) -> None:
        self.top_k = top_k
        self.max_chars = max_chars
        self.passages: list[tuple[str, str, set[str]]] = []
        if folder is not None:
            for file in sorted(folder.rglob("*")):
                if file.suffix.lower() in (".md", ".txt") and file.is_file():
                    for para in re.split(r"\n\s*\n", file.read_text(encoding="utf-8", errors="replace")):
                        para = para.strip()
                        if para:
                            self.passages.append((file.name, para, set(_WORD.findall(para.lower()))))

    def find(self, query: str) -> list[tuple[str, str]]:
        """The best ``top_k`` (file name, paragraph) pairs sharing words with ``query``."""
        words = set(_WORD.findall(query.lower()))
        scored = sorted(
            ((len(words & terms), i) for i, (_, _, terms) in enumerate(self.passages)),
            key=lambda p: (-p[0], p[1]),
        )
        return [self.passages[i][:2] for score, i in scored[: self.top_k] if score > 0]

    async def __call__(self, query: str) -> str:
        text = "\n\n".join(f"[{src}] {para}" for src, para in self.find(query))
        return text[: self.max_chars]


class KnowledgeSearch:
    """Hybrid search of the run's organisation's knowledge base, then the crew's own folder.

    Knowledge base hits come first, each cited as ``[source §section p.N chars a-b]``; the
    crew's shipped documents fill in after them. Outside a run, or when the knowledge base
    cannot answer (no embedding model, say), only the folder is searched, and the run goes on.
    """

    name = "knowledge_search"
    description = "Search the organisation's knowledge base and the crew's documents."

    def __init__(self, crew: CrewSpec, *, namespace: str = "default", top_k: int = 3,
                 max_chars: int = 1600) -> None:
        self.namespace = namespace
        self.top_k = top_k
        self.max_chars = max_chars
        self.folder = FolderSearch(crew.knowledge_dir, top_k=top_k, max_chars=max_chars)

    async def __call__(self, query: str) -> str:
        parts: list[str] = []
        scope = current_run()
        if scope is not None and scope.knowledge is not None:
            try:
                hits = await scope.knowledge.search(scope.org_id, query[:2000], namespace=self.namespace,
                                                    k=self.top_k, mode="hybrid")
            except NotFound:  # the organisation has no documents in the namespace
                hits = []
            except Exception as exc:  # the knowledge base is a help, not a precondition
                log.warning("knowledge_search_failed", extra={"reason": str(exc)})
                hits = []
            for hit in hits:
                where = hit.source + (f" §{hit.section}" if hit.section else "")
                where += (f" p.{hit.page}" if hit.page else "") + f" chars {hit.char_start}-{hit.char_end}"
                parts.append(f"[{where}] {hit.text.strip()}")
        # The crew's documents may be in the knowledge base too: quote each passage once.
        quoted = " ".join(" ".join(p.split()) for p in parts)
        parts += [f"[{src}] {para}" for src, para in self.folder.find(query)
                  if " ".join(para.split()) not in quoted]
        return "\n\n".join(parts)[: self.max_chars]


BUILTIN_TOOLS: Mapping[str, ToolFactory] = {
    "knowledge_search": lambda crew: KnowledgeSearch(crew),
}
