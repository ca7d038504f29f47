"""What a task means: one benchmark, a task family, or a weighted mix of benchmarks.

Scores on different benchmarks are never one scale. A benchmark task ranks candidates on that
benchmark; a task family ranks them on the family's aggregate benchmark (the paper's mean accuracy
over the family); a mix is an explicit, user-weighted mean of scores taken as fractions of each
metric's maximum, and needs an estimate on every benchmark in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vlmplanner.errors import UnknownTaskError, ValidationError
from vlmplanner.schemas import Benchmark

__all__ = ["FAMILY_AGGREGATES", "FAMILY_BENCHMARKS", "ResolvedTask", "resolve_task"]

#: The benchmark that stands for a whole task family: the paper's averaged grid scores.
FAMILY_AGGREGATES: dict[str, str] = {
    "visual-reasoning": "avg_visual_reasoning",
    "ocr-text": "avg_ocr_like",
}
#: The benchmarks whose mean stands for a task family on models outside the paper's grid, each taken
#: as a fraction of its metric's maximum, as the paper averages accuracy over a family. Visual
#: reasoning: the paper's nine (ICLR: MME, GQA, AI2D, MMBench, MMMU, ScienceQA, MathVista, POPE,
#: ChartQA) that compressor papers report for LLaVA-style models (MME as its perception score out of
#: 2000; ScienceQA as its image subset). OCR/text: the paper does not list its benchmarks; TextVQA is
#: the one every compressor paper reports. A candidate gets a family estimate only when it has a
#: result on every benchmark of its family's set at the same token count.
FAMILY_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "visual-reasoning": ("GQA", "MMBench", "MME(P)", "POPE", "SQA-IMG"),
    "ocr-text": ("TextVQA",),
}
_FAMILY_ALIASES = {
    "visual-reasoning": "visual-reasoning", "visual_reasoning": "visual-reasoning", "reasoning": "visual-reasoning",
    "vqa": "visual-reasoning", "ocr-text": "ocr-text", "ocr": "ocr-text", "ocr-like": "ocr-text",
    "ocr_like": "ocr-text", "text": "ocr-text",
}


@dataclass(frozen=True)
class ResolvedTask:
    name: str
    kind: str  # "benchmark" | "family" | "mix"
    weights: dict[str, float]  # benchmark -> weight (one entry unless a mix)
    metric: str
    higher_is_better: bool = True
    #: a task family: the benchmarks whose mean stands for it where the aggregate has no value
    parts: tuple[str, ...] = ()

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def is_mix(self) -> bool:
        return self.kind == "mix"


def resolve_task(task: str, benchmarks: Sequence[Benchmark]) -> ResolvedTask:
    """``GQA``, ``visual-reasoning``, or ``GQA:0.5,TextVQA:0.5`` (weights need not sum to one)."""
    by_name = {b.name: b for b in benchmarks}
    by_lower = {b.name.lower(): b for b in benchmarks}
    text = task.strip()
    if not text:
        raise UnknownTaskError(task, [*FAMILY_AGGREGATES, *by_name])
    if "," in text or re.search(r":\s*[0-9.]+\s*$", text):
        weights: dict[str, float] = {}
        for part in text.split(","):
            name, _, weight = part.strip().rpartition(":")
            benchmark = by_name.get(name.strip()) or by_lower.get(name.strip().lower())
            if benchmark is None:
                raise UnknownTaskError(name.strip() or part, [*by_name])
            try:
                value = float(weight)
            except ValueError:
                raise ValidationError(f"task weight {weight!r} for {name!r} is not a number", field="task",
                                      value=task) from None
            if not value > 0:
                raise ValidationError(f"task weight for {name!r} must be positive, got {value}", field="task",
                                      value=task)
            weights[benchmark.name] = weights.get(benchmark.name, 0.0) + value
        if len(weights) == 1:
            only = by_name[next(iter(weights))]
            return ResolvedTask(only.name, "benchmark", {only.name: 1.0}, only.metric, only.higher_is_better)
        unbounded = [name for name in weights if by_name[name].max_score is None]
        if unbounded:
            raise ValidationError(f"a mix needs metrics with a maximum; {unbounded} have none", field="task",
                                  value=task)
        return ResolvedTask(text, "mix", weights, "weighted mean of scores as fractions of each metric's maximum")
    family = _FAMILY_ALIASES.get(text.lower())
    if family is not None:
        aggregate = by_name.get(FAMILY_AGGREGATES[family])
        if aggregate is None:
            raise UnknownTaskError(text, [*by_name], hint=f"the catalog lacks {FAMILY_AGGREGATES[family]}")
        parts = tuple(name for name in FAMILY_BENCHMARKS[family] if name in by_name and by_name[name].max_score)
        return ResolvedTask(family, "family", {aggregate.name: 1.0}, aggregate.metric, aggregate.higher_is_better,
                            parts=parts if len(parts) == len(FAMILY_BENCHMARKS[family]) else ())
    benchmark = by_name.get(text) or by_lower.get(text.lower())
    if benchmark is None:
        raise UnknownTaskError(text, [*FAMILY_AGGREGATES, *by_name],
                               hint="a task is a benchmark, a task family (visual-reasoning, ocr-text) or a mix"
                                    " such as 'GQA:1,TextVQA:1'")
    return ResolvedTask(benchmark.name, "benchmark", {benchmark.name: 1.0}, benchmark.metric,
                        benchmark.higher_is_better)
