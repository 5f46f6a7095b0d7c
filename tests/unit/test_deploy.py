"""deploy/: the Prometheus rules pass promtool (syntax and unit tests), the Grafana dashboard
loads in Grafana's own dashboard model, and every series either names is one Nexod exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nexod.observability.prometheus import PrometheusMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "nexod-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "nexod-dashboard.json"
SERIES = re.compile(r"\bnexod_[a-z_]+\b")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`; scripts/services.sh "
                    "installs it): the rules are not checked")
    return path


def exported_series() -> set[str]:
    """Every series name /metrics can show."""
    names = set()
    for family in PrometheusMetrics().collector().collect():
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}.get(family.type, ("",))
        names |= {family.name + s for s in suffixes}
    return names


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    return exprs + [a["expr"] for a in dashboard()["annotations"]["list"] if "expr" in a]


def test_promtool_accepts_the_rules() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rules_fire_as_the_in_app_engine_does() -> None:
    out = subprocess.run([promtool(), "test", "rules", "nexod-rules.test.yml"], capture_output=True,
                         text=True, cwd=RULES.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dashboard_loads_in_grafanas_model() -> None:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

    data = dashboard()
    model = Dashboard.from_json(data)
    assert model.uid == "nexod-overview" and model.title == "Nexod"
    assert model.panels is not None and len(model.panels) == len(data["panels"])
    back = json.loads(json.dumps(model, cls=JSONEncoder))  # what Grafana's model keeps of it
    ids = []
    for raw, panel in zip(data["panels"], model.panels, strict=True):
        assert isinstance(panel, RowPanel if raw["type"] == "row" else Panel)
        assert panel.id_val is not None and panel.grid_pos is not None
        ids.append(panel.id_val)
        pos = panel.grid_pos
        assert 0 <= pos.x and pos.x + pos.w <= 24 and pos.h > 0, raw["title"]
        if raw["type"] != "row":
            assert raw["targets"] and all(t["expr"] and t["refId"] for t in raw["targets"])
            assert raw["datasource"]["uid"] == "${datasource}"
    assert len(set(ids)) == len(ids)
    kept = [t["expr"] for p in back["panels"] for t in p.get("targets", [])]
    assert kept == [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
    assert back["graphTooltip"] == 1 and back["time"] == data["time"]
    assert [v["name"] for v in data["templating"]["list"]] == ["datasource"]


def test_every_series_named_is_exported() -> None:
    exported = exported_series()
    rules = yaml.safe_load(RULES.read_text())
    rule_exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    for expr in [*dashboard_exprs(), *rule_exprs]:
        for name in SERIES.findall(expr):
            assert name in exported, f"{name} (in {expr!r}) is not a series Nexod exports"
    # And the other way: every family Nexod exports is on the dashboard.
    shown = {n for e in dashboard_exprs() for n in SERIES.findall(e)}
    families = {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in exported}
    assert families <= {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in shown}


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each dashboard query (as a recording rule)."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
