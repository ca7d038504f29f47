"""The candidate table for one task: every (model, compressor, tokens) with a quality estimate.

It depends on the task and the filters only, not on the budget or workload, so the planner builds
it once and reuses it; costs are computed on top of it, vectorized, for each request.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmplanner.pipeline.runnable import Runnability, RunnabilityChecker
from vlmplanner.schemas import Candidate, ModelSpec, QualityResult

from .laws import law_family
from .recommendation import QualityEstimate, QualityPart
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
    #: whether instantiate() can run each row, and why not (vlmplanner.pipeline.runnable)
    runnability: list[Runnability] = field(default_factory=list)
    #: ``runnability``'s verdicts as one bool array, for masks
    runnable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: the share of the native tokens a row keeps (``@25%``), NaN for a count; ``visual_tokens`` then
    #: holds its k at the table's image
    share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _estimates: dict[int, QualityEstimate] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.visual_tokens.shape[0])

    @property
    def family_mean(self) -> np.ndarray:
        """Rows whose task-family estimate is the mean of the family's benchmarks (not its aggregate)."""
        keep = np.zeros(len(self), dtype=bool)
        keep[[i for i, e in self._estimates.items() if e.parts]] = True
        return keep

    def subset(self, keep: np.ndarray) -> CandidateTable:
        """The rows where ``keep`` is True, in order (estimates re-indexed)."""
        rows = np.flatnonzero(keep)
        position = {int(old): new for new, old in enumerate(rows)}
        return CandidateTable(
            models=self.models, compressors=self.compressors, model_index=self.model_index[rows],
            compressor_index=self.compressor_index[rows], visual_tokens=self.visual_tokens[rows],
            score=self.score[rows], predicted=self.predicted[rows], extrapolated=self.extrapolated[rows],
            without_estimate=self.without_estimate, task=self.task,
            runnability=[self.runnability[int(i)] for i in rows], runnable=self.runnable[rows],
            share=self.share[rows], _estimates={position[i]: e for i, e in self._estimates.items() if i in position},
        )

    def candidate(self, i: int) -> Candidate:
        share = None if math.isnan(self.share[i]) else float(self.share[i])
        return Candidate.trusted(model=self.models[self.model_index[i]].checkpoint,
                                 compressor=self.compressors[self.compressor_index[i]],
                                 visual_tokens=int(self.visual_tokens[i]) if share is None else None, share=share)

    def key(self, i: int) -> str:
        return self.candidate(i).key

    def observed_estimate(self, i: int) -> QualityEstimate | None:
        """Row ``i``'s estimate as the catalog's results give it (None for predictions and mixes,
        which ``Planner.estimate`` works out)."""
        return self._estimates.get(i)


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


def _family_estimates(snapshot: Snapshot, task: ResolvedTask, model: ModelSpec, compressor: str,
                      native: int, *, shares: bool = False) -> dict[Any, QualityEstimate]:
    """Task-family estimates from the family's benchmarks (``task.parts``): at each token count where
    the candidate has a result on every one, the mean of their scores as fractions of each maximum
    (docs/planner.md, "Task families")."""
    per_part = []
    source: Any = snapshot.observed_shares if shares else snapshot.observed
    for benchmark in task.parts:
        observed = source.get((model.checkpoint, compressor, benchmark), {})
        per_part.append({at: rows for at, rows in observed.items() if shares or at <= native})
    if not per_part:
        return {}
    estimates: dict[Any, QualityEstimate] = {}
    for tokens in sorted(set(per_part[0]).intersection(*per_part[1:])):
        parts = []
        for benchmark, values in zip(task.parts, per_part):
            found = _observed_estimate(values[tokens], snapshot.benchmarks[benchmark].metric)
            parts.append(QualityPart.trusted(benchmark=benchmark, score=found.score,
                                             max_score=float(snapshot.benchmarks[benchmark].max_score or 1.0),
                                             provenance=found.provenance, sources=found.sources))
        provenances = {p.provenance for p in parts}
        rows = [row for values in per_part for row in values[tokens]]
        estimates[tokens] = QualityEstimate.trusted(
            score=statistics.fmean(p.score / p.max_score for p in parts),
            metric=f"{task.metric}: mean of {', '.join(task.parts)} as fractions of their maxima",
            provenance=provenances.pop() if len(provenances) == 1 else "mixed",
            sources=tuple(dict.fromkeys(source for p in parts for source in p.sources)), n_results=len(rows),
            flags=tuple(dict.fromkeys(flag for row in rows for flag in row.flags)), parts=tuple(parts),
        )
    return estimates


NO_SHARE = float("nan")
Values = dict[Any, tuple[float, bool, bool, "QualityEstimate | None"]]


def _share_values(snapshot: Snapshot, task: ResolvedTask, model: ModelSpec, compressor: str,
                  native: int) -> list[Values]:
    """Per task benchmark, the observed estimates at each share of the native tokens (no laws: the
    scaling laws are fitted on counts)."""
    if not snapshot.observed_shares:
        return []
    per_benchmark: list[Values] = []
    for benchmark in task.benchmarks:
        scale = snapshot.benchmarks[benchmark].max_score or 1.0
        metric = snapshot.benchmarks[benchmark].metric
        observed = snapshot.observed_shares.get((model.checkpoint, compressor, benchmark), {})
        values: Values = {}
        for share, results in observed.items():
            estimate = _observed_estimate(results, metric)
            values[share] = (estimate.score / (scale if task.is_mix else 1.0), False, False, estimate)
        per_benchmark.append(values)
    if task.parts:
        for share, estimate in _family_estimates(snapshot, task, model, compressor, native, shares=True).items():
            per_benchmark[0].setdefault(share, (estimate.score, False, False, estimate))
    return per_benchmark


def _add_rows(rows: list[tuple[int, int, int, float, bool, bool]], estimates: dict[int, QualityEstimate],
              shares: list[float], task: ResolvedTask, mi: int, ci: int, per_benchmark: list[Values],
              place: Any) -> int:
    """One row per token count (or share) every benchmark of the task has a value at; ``place``
    maps it to (k at the table's image, share or NaN). Returns how many rows it added."""
    common = set(per_benchmark[0]).intersection(*per_benchmark[1:]) if per_benchmark else set()
    total_weight = sum(task.weights.values())
    weights = list(task.weights.values())
    for at in sorted(common):
        parts = [values[at] for values in per_benchmark]
        score = float(sum(w * p[0] for w, p in zip(weights, parts))) / total_weight
        tokens, share = place(at)
        index = len(rows)
        rows.append((mi, ci, tokens, score, any(p[1] for p in parts), any(p[2] for p in parts)))
        shares.append(share)
        if len(parts) == 1 and parts[0][3] is not None:
            estimates[index] = parts[0][3]
    return len(common)


def build_table(snapshot: Snapshot, task: ResolvedTask, *, models: list[ModelSpec], compressors: list[str],
                image_size: tuple[int, int] | None = None) -> CandidateTable:
    """Enumerate candidates and attach one quality estimate each (observed beats predicted)."""
    laws = snapshot.laws
    rows: list[tuple[int, int, int, float, bool, bool]] = []
    shares: list[float] = []
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
            if task.parts:  # a task family: its benchmarks' mean where the aggregate has no value
                for tokens, estimate in _family_estimates(snapshot, task, model, compressor, native).items():
                    per_benchmark[0].setdefault(tokens, (estimate.score, False, False, estimate))
            if compressor == "none" and image_size is not None:  # none keeps this image's native count
                per_benchmark = [{native: v[max(v)]} if v else {} for v in per_benchmark]
            share_values = _share_values(snapshot, task, model, compressor, native)
            added = _add_rows(rows, estimates, shares, task, mi, ci, per_benchmark, lambda tokens: (tokens, NO_SHARE))
            added += _add_rows(rows, estimates, shares, task, mi, ci, share_values,
                               lambda share, n=native: (max(1, round(share * n)), share))
            if not added:
                without += 1
    if rows:
        mi_, ci_, v_, s_, p_, e_ = (np.asarray(col) for col in zip(*rows))
    else:
        mi_ = ci_ = v_ = np.zeros(0, dtype=int)
        s_ = np.zeros(0)
        p_ = e_ = np.zeros(0, dtype=bool)
    check = RunnabilityChecker(image_size=image_size)  # a grid that follows the image is checked on it
    runnability = [check(models[mi], compressors[ci], tokens, share=None if math.isnan(share) else share)
                   for (mi, ci, tokens, *_), share in zip(rows, shares)]
    return CandidateTable(
        models=models, compressors=compressors, model_index=mi_.astype(np.int64), compressor_index=ci_.astype(np.int64),
        visual_tokens=v_.astype(np.int64), score=s_.astype(float), predicted=p_.astype(bool),
        extrapolated=e_.astype(bool), without_estimate=without, task=task, runnability=runnability,
        runnable=np.fromiter((r.runnable for r in runnability), dtype=bool, count=len(runnability)),
        share=np.asarray(shares, dtype=float), _estimates=estimates,
    )
