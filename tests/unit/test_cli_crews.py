"""`nexod run` and `nexod crews` as a user meets them (in-process through typer's runner):
bad input is a clear error with exit 2 and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexod.cli import app
from nexod.cli_crews import parse_inputs, write_files

SCRIPTED = {"NEXOD_LLM": "python:tests.graphs.scripted:make"}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("NEXOD_CONFIG", "NEXOD_DATABASE_URL", "NEXOD_REDIS_URL", "NEXOD_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def nexod(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={**SCRIPTED, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_crews_lists_the_built_in_crews(in_tmp: Path) -> None:
    code, out, err = nexod("crews")
    assert code == 0, err
    assert "research" in out and "document, criteria" in out


def test_bad_run_requests_name_what_is_wrong(in_tmp: Path) -> None:
    for args, expect in [
        (("run", "nope"), "crew 'nope' not found"),
        (("run", "review", "--input", "document=x"), "missing inputs: criteria"),
        (("run", "review", "--input", "document"), "expected key=value"),
    ]:
        code, _, err = nexod(*args)
        assert code == 2 and expect in err, (args, err)
    assert not (in_tmp / ".nexod").exists()  # nothing was written


def test_input_pairs_are_parsed_and_files_stay_in_the_directory(in_tmp: Path) -> None:
    assert parse_inputs(["topic=a=b", " k =v"]) == {"topic": "a=b", "k": "v"}
    values = {"files": {"a": "out/a.md", "b": "../escape.md"},
              "outputs": {"a": {"output": "A"}, "b": {"output": "B"}}}
    assert write_files(values) == {"a": "out/a.md"}
    assert (in_tmp / "out" / "a.md").read_text() == "A\n" and not (in_tmp.parent / "escape.md").exists()


def test_broken_crew_yaml_stops_with_the_file_named(in_tmp: Path) -> None:
    conf = in_tmp / "mine" / "config"
    conf.mkdir(parents=True)
    (conf / "agents.yaml").write_text("a:\n  role: r\n  goal: g\n")
    (conf / "tasks.yaml").write_text("t:\n  description: d\n  agent: b\n")
    (in_tmp / "nexod.json").write_text(json.dumps({"crews": {"mine": "./mine"}}))
    code, _, err = nexod("run", "mine")
    assert code == 2
    assert "tasks.yaml: task 't' names unknown agent 'b'" in err.replace("\n", "")


def test_run_prints_progress_and_the_report(in_tmp: Path) -> None:
    code, out, err = nexod("run", "review", "--input", "document=A memo.", "--input", "criteria=short", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["status"] == "completed" and outcome["result"].startswith("{")
    assert "Document Auditor" in err and "verdict_task" in err
    assert (in_tmp / ".nexod" / "nexod.db").exists()  # an ordinary durable run
