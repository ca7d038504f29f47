"""Benchmark and task: what a quality score measures, and on what scale."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from ._base import Schema

__all__ = ["TASK_FAMILIES", "Benchmark", "Task", "TaskFamily"]

TaskFamily = Literal["visual-reasoning", "ocr-text", "captioning", "aggregate"]
TASK_FAMILIES: tuple[str, ...] = ("visual-reasoning", "ocr-text", "captioning", "aggregate")


class Benchmark(Schema):
    """A benchmark and its metric. Scores on different benchmarks are never one scale."""

    name: str = Field(min_length=1)
    metric: str = Field(description="what the score is, with its unit")
    min_score: float = 0.0
    max_score: float | None = Field(None, description="None when the metric has no upper bound")
    higher_is_better: bool = True
    task_family: TaskFamily
    description: str = ""

    @model_validator(mode="after")
    def _range(self) -> Benchmark:
        if self.max_score is not None and not self.max_score > self.min_score:
            raise ValueError("max_score must be greater than min_score")
        return self

    def contains(self, score: float) -> bool:
        if not math.isfinite(score) or score < self.min_score:
            return False
        return self.max_score is None or score <= self.max_score


class Task(Schema):
    """A benchmark, a task family, or a weighted mix of either."""

    name: str
    kind: Literal["benchmark", "family", "mix"]
    weights: dict[str, PositiveFloat] = Field(default_factory=dict)
