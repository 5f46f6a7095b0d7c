"""Which knowledge base, and whose, the code running inside a graph may search.

The executor sets :data:`RUN_KNOWLEDGE` around each run; LangGraph runs nodes in tasks (and
threads) that copy the context, so a tool called from any node of that run sees its tenant's
knowledge base and nothing else. Unset outside runs.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nexod.knowledge.service import KnowledgeBase


@dataclass(frozen=True)
class RunKnowledge:
    """The knowledge base and the organisation a run belongs to."""

    knowledge: KnowledgeBase
    org_id: str


RUN_KNOWLEDGE: ContextVar[RunKnowledge | None] = ContextVar("nexod_run_knowledge", default=None)
