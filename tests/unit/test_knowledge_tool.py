"""The crews' ``knowledge_search`` tool over a real knowledge base (SQLite, local store, the
local embedding model): cited hits of the run's organisation first, then the crew's own
documents, each passage once, and nothing of another organisation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexod.crews.builtin import builtin_path
from nexod.crews.spec import load_crew
from nexod.crews.tools import KnowledgeSearch
from nexod.db.engine import create_engine, sessionmaker
from nexod.db.migrate import upgrade
from nexod.knowledge.service import KnowledgeBase, open_knowledge
from nexod.scope import RunScope, run_scope
from nexod.settings import Settings
from tests.servers import MODEL_CACHE

DOCS = builtin_path("research") / "knowledge"


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    settings = Settings(data_dir=tmp_path, model_cache=MODEL_CACHE)
    engine = create_engine(settings)
    await upgrade(engine)
    knowledge = open_knowledge(settings, engine, sessionmaker(engine))
    await knowledge.setup()
    try:
        yield knowledge
    finally:
        await knowledge.aclose()
        await engine.dispose()


async def test_cited_hits_then_the_crews_documents_each_once(kb: KnowledgeBase) -> None:
    tool = KnowledgeSearch(load_crew(builtin_path("research")))
    durable = (DOCS / "durable-execution.md").read_text()
    await kb.ingest("org_a", durable.encode(), source="durable-execution.md", content_type="text/markdown")
    await kb.ingest("org_a", b"Leases are renewed by heartbeats, reference FACT-77.", source="leases.txt")
    await kb.ingest("org_b", b"Heartbeats of org b, reference FACT-88.", source="b.txt")
    query = "durable execution lease heartbeat worker"

    outside = await tool(query)  # no run: the crew's documents only
    assert "FACT-77" not in outside and "durable run survives" in outside

    with run_scope(RunScope("org_a", "run-1", knowledge=kb)):
        found = await tool(query)
    assert "FACT-77" in found and "FACT-88" not in found
    assert "[leases.txt chars 0-" in found  # a citation: source and character offsets
    assert "[durable-execution.md §Durable execution chars " in found
    # The crew ships durable-execution.md too; the knowledge base already quoted it.
    assert found.count("A durable run survives the failure") == 1
    assert "[durable-execution.md] " not in found
