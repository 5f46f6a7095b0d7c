"""The `nexod` command as a user meets it: bad settings stop start-up with a clear message."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def nexod(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEXOD_")}
    return subprocess.run([sys.executable, "-m", "nexod.cli", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("NEXOD_PORT", "eighty", "NEXOD_PORT"),
        ("NEXOD_PORT", "70000", "NEXOD_PORT"),
        ("NEXOD_DATABASE_URL", "mysql://x@y/z", "postgresql://"),
        ("NEXOD_WORKERS", "-1", "NEXOD_WORKERS"),
        ("NEXOD_LOG_LEVEL", "loud", "NEXOD_LOG_LEVEL"),
    ],
)
def test_bad_setting_stops_start_up(tmp_path: Path, var: str, value: str, expect: str) -> None:
    res = nexod("serve", cwd=tmp_path, env={var: value})
    assert res.returncode == 2
    assert expect in res.stderr and var in res.stderr
    assert not (tmp_path / ".nexod").exists()


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    res = nexod("serve", "--config", "nope.json", cwd=tmp_path)
    assert res.returncode == 2 and "nope.json" in res.stderr


def test_broken_graph_is_named(tmp_path: Path) -> None:
    (tmp_path / "langgraph.json").write_text('{"graphs": {"agent": "./agent.py:graph"}}')
    res = nexod("serve", cwd=tmp_path)
    assert res.returncode == 2 and "agent.py" in res.stderr
    (tmp_path / "agent.py").write_text("graph = 42\n")
    res = nexod("serve", cwd=tmp_path)
    assert res.returncode == 2 and "'agent'" in res.stderr and "neither a compiled graph" in res.stderr


def test_migrate_creates_the_embedded_database(tmp_path: Path) -> None:
    res = nexod("migrate", cwd=tmp_path, env={"NEXOD_DATA_DIR": str(tmp_path / "data")})
    assert res.returncode == 0, res.stderr
    with sqlite3.connect(tmp_path / "data" / "nexod.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agent_sessions", "agent_logs", "threads", "assistants"} <= tables
