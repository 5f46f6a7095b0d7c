"""`nexod ingest`, `nexod search` and `nexod knowledge reconcile` as a user runs them."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.servers import MODEL_CACHE
from tests.unit.test_cli import nexod

ENV = {"NEXOD_MODEL_CACHE": str(MODEL_CACHE)}


def write_docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "deep" / ".hidden").mkdir(parents=True)
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans can be refunded within 30 days.\n")
    (docs / "deep" / "cats.txt").write_text("Cats sleep most of the day and hunt at dusk.\n")
    (docs / "deep" / "photo.png").write_bytes(b"\x89PNG\r\n")
    (docs / "deep" / ".hidden" / "secret.txt").write_text("never ingested")
    return docs


def test_ingest_folder_then_search_with_citations(tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    res = nexod("ingest", str(docs), "--metadata", '{"team": "support"}', cwd=tmp_path, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "2 indexed" in res.stderr and "1 unsupported files skipped" in res.stderr
    again = nexod("ingest", str(docs), "--metadata", '{"team": "support"}', cwd=tmp_path, env=ENV, timeout=120)
    assert "0 indexed (0 chunks), 2 unchanged" in again.stderr, again.stderr
    started = time.perf_counter()
    found = nexod("search", "money back on a yearly plan", "-k", "2", cwd=tmp_path, env=ENV)
    cold = time.perf_counter() - started
    assert found.returncode == 0, found.stderr
    first = found.stdout.splitlines()[0]
    assert "docs/refunds.md > Refunds" in first and "chars 0-" in first
    print(f"cold `nexod search`: {cold:.2f} s")  # timed in bench, not asserted here
    as_json = json.loads(nexod("search", "hunting", "--json", "--mode", "keyword", cwd=tmp_path, env=ENV).stdout)
    assert [h["source"] for h in as_json] == ["docs/deep/cats.txt"]
    filtered = nexod("search", "cats", "--filter", '{"team": {"$ne": "support"}}', cwd=tmp_path, env=ENV)
    assert filtered.returncode == 0 and "no hits" in filtered.stdout


def test_bad_input_exits_nonzero_with_the_reason(tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    res = nexod("ingest", str(tmp_path / "empty.txt"), str(docs / "refunds.md"), cwd=tmp_path, env=ENV, timeout=120)
    assert res.returncode == 1 and "empty.txt: the document is empty" in res.stderr and "1 indexed" in res.stderr
    assert nexod("ingest", "nowhere", cwd=tmp_path, env=ENV).returncode == 2
    bad_filter = nexod("search", "x", "--filter", '{"a": {"$regex": "x"}}', cwd=tmp_path, env=ENV)
    assert bad_filter.returncode == 1 and "$regex" in bad_filter.stderr
    missing = nexod("search", "x", "--namespace", "elsewhere", cwd=tmp_path, env=ENV)
    assert missing.returncode == 1 and "namespace 'elsewhere' not found" in missing.stderr


def test_reconcile_rebuilds_a_lost_vector_store(tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    assert nexod("ingest", str(docs), cwd=tmp_path, env=ENV, timeout=120).returncode == 0
    shutil.rmtree(tmp_path / ".nexod" / "vectors")
    empty = nexod("search", "refund annual plan", "--mode", "semantic", cwd=tmp_path, env=ENV)
    assert empty.returncode == 0 and "no hits" in empty.stdout
    fixed = nexod("knowledge", "reconcile", cwd=tmp_path, env=ENV)
    assert fixed.returncode == 0 and "written 2" in fixed.stderr, fixed.stderr
    found = nexod("search", "refund annual plan", "--mode", "semantic", cwd=tmp_path, env=ENV)
    assert "docs/refunds.md" in found.stdout.splitlines()[0]
    rebuilt = nexod("knowledge", "reconcile", "--rebuild", cwd=tmp_path, env=ENV)
    assert rebuilt.returncode == 0 and "written 2" in rebuilt.stderr


def test_while_a_server_owns_the_store_ingest_goes_through_it(tmp_path: Path) -> None:
    from tests.servers import Server

    write_docs(tmp_path)
    config = tmp_path / "langgraph.json"
    config.write_text('{"graphs": {}}')
    srv = Server(tmp_path / ".nexod", config=config)
    srv.start()
    try:
        env = {**ENV, "NEXOD_DATA_DIR": str(tmp_path / ".nexod")}
        direct = nexod("ingest", "docs", cwd=tmp_path, env=env, timeout=120)
        assert direct.returncode == 1 and "owned by another process" in direct.stderr, direct.stderr
        via_api = nexod("ingest", "docs", "--url", srv.url, cwd=tmp_path, env=env, timeout=120)
        assert via_api.returncode == 0 and "2 indexed" in via_api.stderr, via_api.stderr
        found = nexod("search", "refund annual plan", "-k", "1", "--url", srv.url, cwd=tmp_path, env=env)
        assert "docs/refunds.md" in found.stdout
    finally:
        srv.stop()
