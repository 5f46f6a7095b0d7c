"""The crews Nexod ships: ``research`` and ``review`` (name them as ``builtin:<name>``)."""

from __future__ import annotations

from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent
BUILTIN_CREWS = ("research", "review")


def builtin_path(name: str) -> Path:
    """The folder of a built-in crew."""
    return BUILTIN_DIR / name
