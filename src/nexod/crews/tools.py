"""Tools an agent may name in ``agents.yaml`` (``tools: [knowledge_search]``).

A tool is looked up by name in a registry of factories, each called once per crew with the
crew's spec. The built-in ``knowledge_search`` searches the crew's ``knowledge/`` folder by
keyword overlap: a stand-in until the knowledge base (its own issue) supplies hybrid search;
pass another factory under the same name to plug that in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from nexod.crews.spec import CrewSpec


class Tool(Protocol):
    """Something an agent can consult before it answers."""

    name: str
    description: str

    async def __call__(self, query: str) -> str:
        """The tool's answer to ``query`` as text for the agent's prompt ('' when nothing)."""
        ...


ToolFactory = Callable[[CrewSpec], Tool]

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

    async def __call__(self, query: str) -> str:
        words = set(_WORD.findall(query.lower()))
        scored = sorted(
            ((len(words & terms), i) for i, (_, _, terms) in enumerate(self.passages)),
            key=lambda p: (-p[0], p[1]),
        )
        picked = [self.passages[i] for score, i in scored[: self.top_k] if score > 0]
        text = "\n\n".join(f"[{src}] {para}" for src, para, _ in picked)
        return text[: self.max_chars]


BUILTIN_TOOLS: Mapping[str, ToolFactory] = {
    "knowledge_search": lambda crew: FolderSearch(crew.knowledge_dir),
}
