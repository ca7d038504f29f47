"""The candidate table for one task: every (model, compressor, tokens) with a quality estimate.

It depends on the task and the filters only, not on the budget or workload, so the planner builds
it once and reuses it; costs are computed on top of it, vectorized, for each request.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from vlmplanner.schemas import ModelSpec, QualityResult

from .laws import law_family
from .recommendation import QualityEstimate
from .snapshot import Snapshot
from .tasks import ResolvedTask

__all__ = ["CandidateTable", "build_table"]

OBSERVED, PREDICTED = 0, 1


@dataclass
class CandidateTable:
    models: list[ModelSpec]
    compressors: list[str]
    model_index: np.ndarray
    compressor_index: np.ndarray
    visual_tokens: np.ndarray
    score: np.ndarray  # on the task's scale (a fraction of the maximum for mixes)
    predicted: np.ndarray  # bool: any part of the estimate comes from a law
    extrapolated: np.ndarray
    without_estimate: int
    task: ResolvedTask
    _estimates: dict[int, QualityEstimate] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.visual_tokens.shape[0])

    def key(self, i: int) -> str:
        return f"{self.models[self.model_index[i]].checkpoint}+{self.compressors[self.compressor_index[i]]}@{int(self.visual_tokens[i])}"


def _native_tokens(model: ModelSpec, image_size: tuple[int, int] | None) -> int:
    if image_size is None:
        return model.native_visual_tokens
    from vlmplanner.cost import visual_tokens_per_image

    return visual_tokens_per_image(model, image_size)


def _observed_estimate(rows: list[QualityResult], metric: str) -> QualityEstimate:
    scores = [r.score for r in rows]
    return QualityEstimate.trusted(
        score=statistics.median(scores), metric=metric, provenance=rows[0].provenance,
        sources=tuple(dict.fromkeys(r.source for r in rows)), n_results=len(rows),
        flags=tuple(dict.fromkeys(flag for r in rows for flag in r.flags)),
    )


def build_table(snapshot: Snapshot, task: ResolvedTask, *, models: list[ModelSpec], compressors: list[str],
                image_size: tuple[int, int] | None = None) -> CandidateTable:
    """Enumerate candidates and attach one quality estimate each (observed beats predicted)."""
    laws = snapshot.laws
    rows: list[tuple[int, int, int, float, bool, bool]] = []
    estimates: dict[int, QualityEstimate] = {}
    without = 0
    for mi, model in enumerate(models):
        family = law_family(model)
        native = _native_tokens(model, image_size)
        for ci, compressor in enumerate(compressors):
            per_benchmark: list[dict[int, tuple[float, bool, bool, QualityEstimate | None]]] = []
            for benchmark in task.benchmarks:
                scale = snapshot.benchmarks[benchmark].max_score or 1.0
                observed = snapshot.observed.get((model.checkpoint, compressor, benchmark), {})
                law = laws.laws.get((family, compressor, benchmark))
                values: dict[int, tuple[float, bool, bool, QualityEstimate | None]] = {}
                metric = snapshot.benchmarks[benchmark].metric
                for tokens, results in observed.items():
                    if tokens <= native:
                        estimate = _observed_estimate(results, metric)
                        values[tokens] = (estimate.score / (scale if task.is_mix else 1.0), False, False, estimate)
                if law is not None:
                    grid = sorted({int(v) for v in laws.data[(family, compressor, benchmark)].v if v <= native})
                    missing = [v for v in grid if v not in values]
                    if missing:
                        v = np.asarray(missing, dtype=float)
                        n = np.full_like(v, model.llm.params_b)
                        error = law.A * n ** (-law.alpha) * v ** (-law.beta) + law.D
                        predicted = law.scale * (1.0 - error)
                        outside = (n < law.n_range[0]) | (n > law.n_range[1]) | (v < law.v_range[0]) | (v > law.v_range[1])
                        for tokens, s, out in zip(missing, predicted, outside):
                            values[tokens] = (float(s) / (scale if task.is_mix else 1.0), True, bool(out), None)
                per_benchmark.append(values)
            common = set(per_benchmark[0]).intersection(*per_benchmark[1:]) if per_benchmark else set()
            if not common:
                without += 1
                continue
            total_weight = sum(task.weights.values())
            for tokens in sorted(common):
                parts = [values[tokens] for values in per_benchmark]
                weights = list(task.weights.values())
                score = float(sum(w * p[0] for w, p in zip(weights, parts))) / total_weight
                index = len(rows)
                rows.append((mi, ci, tokens, score, any(p[1] for p in parts), any(p[2] for p in parts)))
                if len(parts) == 1 and parts[0][3] is not None:
                    estimates[index] = parts[0][3]
    if rows:
        mi_, ci_, v_, s_, p_, e_ = (np.asarray(col) for col in zip(*rows))
    else:
        mi_ = ci_ = v_ = np.zeros(0, dtype=int)
        s_ = np.zeros(0)
        p_ = e_ = np.zeros(0, dtype=bool)
    return CandidateTable(
        models=models, compressors=compressors, model_index=mi_.astype(np.int64), compressor_index=ci_.astype(np.int64),
        visual_tokens=v_.astype(np.int64), score=s_.astype(float), predicted=p_.astype(bool),
        extrapolated=e_.astype(bool), without_estimate=without, task=task, _estimates=estimates,
    )
