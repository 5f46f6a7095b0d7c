"""The review crew's structured verdict (its ``verdict_task`` output)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Verdict(BaseModel):
    """Whether a document passes review, how well, and what is wrong with it."""

    verdict: Literal["pass", "fail"]
    score: float = Field(ge=0, le=10)
    issues: list[str] = Field(default_factory=list)
