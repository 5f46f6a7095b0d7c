"""The example approval workflow: routes, a person's edit going back through the checks, and
every decision recorded with who and when."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

FILE = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "approval.py"


def graph() -> Any:
    spec = importlib.util.spec_from_file_location("approval_example", FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its TypedDict annotations are resolved through it
    spec.loader.exec_module(module)
    return module.graph.copy(update={"checkpointer": InMemorySaver()})


async def test_routes_without_a_person() -> None:
    g = graph()
    small = await g.ainvoke({"request": "pen", "amount": 5}, {"configurable": {"thread_id": "a"}})
    assert (small["decision"], small["decided_by"], small["effect"]) == ("approved", "policy", "ordered: pen for 5")
    big = await g.ainvoke({"request": "jet", "amount": 50_000}, {"configurable": {"thread_id": "b"}})
    assert big["decision"] == "rejected" and "hard limit" in big["history"][0]["reason"]
    assert big["effect"] == "request closed"


async def test_a_request_without_a_usable_amount_is_rejected_not_auto_approved() -> None:
    g = graph()
    for i, (given, reason) in enumerate([({}, "amount is missing"),
                                         ({"amount": "lots"}, "amount is not a number ('lots')"),
                                         ({"amount": float("nan")}, "amount is not a number")]):
        out = await g.ainvoke({"request": "laptop", **given}, {"configurable": {"thread_id": f"m{i}"}})
        assert (out["decision"], out["decided_by"]) == ("rejected", "policy"), given
        assert out["history"][0]["reason"] == reason


async def test_edit_goes_back_through_the_checks_and_is_recorded() -> None:
    g = graph()
    cfg: Any = {"configurable": {"thread_id": "c"}}
    out = await g.ainvoke({"request": "laptop", "amount": 500}, cfg)
    assert out["__interrupt__"][0].value["actions"] == ["approve", "reject", "edit"]
    out = await g.ainvoke(Command(resume={"action": "edit", "amount": 80, "by": "ann", "comment": "cheaper model"}), cfg)
    assert out["decision"] == "approved" and out["decided_by"] == "policy" and out["amount"] == 80
    assert [(h["action"], h["by"]) for h in out["history"]] == [("edited", "ann"), ("approved", "policy")]
    assert all(h["at"] for h in out["history"])
    assert out["effect"] == "ordered: laptop for 80"
