"""``{placeholder}`` inputs, interpolated exactly as CrewAI's ``interpolate_only`` does.

Only ``{identifier}`` is a placeholder (so JSON in a prompt is left alone); a placeholder with
no input is an error; extra inputs are fine. Written here rather than importing CrewAI, whose
install pulls in ~130 packages for this one function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_\-]*)}")


def placeholders(texts: Iterable[str | None]) -> list[str]:
    """The placeholder names used in ``texts``, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in PLACEHOLDER.findall(text or ""):
            seen.setdefault(name, None)
    return list(seen)


def missing_inputs(names: Iterable[str], inputs: Mapping[str, Any]) -> list[str]:
    """The names among ``names`` that ``inputs`` lacks."""
    return [n for n in names if n not in inputs]


def interpolate(text: str, inputs: Mapping[str, Any]) -> str:
    """Replace each ``{name}`` by its input; KeyError names the first missing one."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in inputs:
            raise KeyError(f"Template variable '{name}' not found in inputs")
        value = inputs[name]
        return value if isinstance(value, str) else str(value)

    return PLACEHOLDER.sub(sub, text)
