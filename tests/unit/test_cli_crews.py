"""`nexod run` and `nexod crews` as a user meets them: bad input is a clear error, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.servers import ROOT
from tests.unit.test_cli import nexod

SCRIPTED = {"NEXOD_LLM": "python:tests.graphs.scripted:make", "PYTHONPATH": str(ROOT)}


def test_crews_lists_the_built_in_crews(tmp_path: Path) -> None:
    out = nexod("crews", cwd=tmp_path, env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "research" in out.stdout and "document, criteria" in out.stdout


def test_bad_run_requests_name_what_is_wrong(tmp_path: Path) -> None:
    for args, expect in [
        (("run", "nope"), "crew 'nope' not found"),
        (("run", "review", "--input", "document=x"), "missing inputs: criteria"),
    ]:
        out = nexod(*args, cwd=tmp_path, env=SCRIPTED)
        assert out.returncode == 2 and expect in out.stderr, (args, out.stderr)
    assert not (tmp_path / ".nexod").exists()  # nothing was written


def test_input_pairs_are_parsed() -> None:
    import pytest

    from nexod.cli_crews import parse_inputs

    assert parse_inputs(["topic=a=b", " k =v"]) == {"topic": "a=b", "k": "v"}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_inputs(["document"])


def test_broken_crew_yaml_stops_with_the_file_named(tmp_path: Path) -> None:
    conf = tmp_path / "mine" / "config"
    conf.mkdir(parents=True)
    (conf / "agents.yaml").write_text("a:\n  role: r\n  goal: g\n")
    (conf / "tasks.yaml").write_text("t:\n  description: d\n  agent: b\n")
    (tmp_path / "nexod.json").write_text(json.dumps({"crews": {"mine": "./mine"}}))
    out = nexod("run", "mine", cwd=tmp_path, env=SCRIPTED)
    assert out.returncode == 2
    assert "tasks.yaml: task 't' names unknown agent 'b'" in out.stderr


def test_run_prints_progress_and_the_report(tmp_path: Path) -> None:
    out = nexod("run", "review", "--input", "document=A memo.", "--input", "criteria=short", "--json",
                cwd=tmp_path, env=SCRIPTED)
    assert out.returncode == 0, out.stderr
    outcome = json.loads(out.stdout)
    assert outcome["status"] == "completed" and outcome["result"].startswith("{")
    assert "Document Auditor" in out.stderr and "verdict_task" in out.stderr
