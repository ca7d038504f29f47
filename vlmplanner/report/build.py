"""Building a :class:`~vlmplanner.report.content.Report` from a planner and a question.

The answer on each hardware profile is ``recommend()``'s own, so a report never disagrees with
the command line; what the report adds is every candidate's numbers, the frontier on each cost
axis, the laws behind the predictions and the breakdown of the chosen configuration.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vlmplanner.errors import (
    ExtrapolationWarning,
    InvalidBudgetError,
    NoCandidateError,
    NoFeasibleCandidateError,
    ValidationError,
)
from vlmplanner.schemas import Hardware

from .content import AXES, Candidates, HardwareSection, LawCurve, LawPoint, Question, Report

if TYPE_CHECKING:
    from vlmplanner.cost import CostArrays
    from vlmplanner.planner import Planner, Recommendation
    from vlmplanner.planner.planner import Include
    from vlmplanner.planner.snapshot import Snapshot
    from vlmplanner.planner.table import CandidateTable
    from vlmplanner.planner.tasks import ResolvedTask
    from vlmplanner.schemas import Budget, Workload

__all__ = ["build_report"]

#: How many fitted laws a report draws, and how many cheapest options it lists when nothing fits.
MAX_LAWS = 4
CHEAPEST = 5
_CURVE_POINTS = 48


def build_report(planner: Planner, *, task: str, budget: Budget | dict[str, Any] | str,
                 workload: Workload | dict[str, Any] | None = None,
                 hardware: str | Hardware | Sequence[str | Hardware | None] | None = (),
                 accounting: str | None = None, family: str | None = None, model: str | None = None,
                 compressor: str | None = None, training: str | None = None,
                 include: Include = "runnable") -> Report:
    """The report for one question on each hardware profile (default: the planner's own)."""
    from vlmplanner._version import __version__
    from vlmplanner.planner.planner import as_budget, as_workload, budget_axis

    budget_value = as_budget(budget)
    workload_value = as_workload(workload)
    planners = list({(p.hardware.name if p.hardware else None): p  # 'h100' and 'h100-sxm' are one profile
                     for p in (planner.on_hardware(h) for h in _hardware_list(planner, hardware))}.values())
    filters = {"family": family, "model": model, "compressor": compressor, "training": training}
    ask = dict(task=task, workload=workload_value, accounting=accounting, **filters)
    resolved, table, _ = planners[0].costed(include=include, **ask)  # type: ignore[arg-type]
    widened = None
    if len(table) == 0 and include == "runnable":  # none runnable: show the what-ifs, marked as such
        resolved, table, _ = planners[0].costed(include="all", **ask)  # type: ignore[arg-type]
        widened = "all"
    snapshot = planners[0].snapshot
    keys = [table.key(i) for i in range(len(table))]
    axis = budget_axis(budget_value)
    sections = []
    costs_first: CostArrays | None = None
    for p in planners:
        _, _, costs = p.costed(include=widened or include, **ask)  # type: ignore[arg-type]
        costs_first = costs_first or costs
        sections.append(_section(p, table, keys, costs, budget_value, workload_value, axis, include, ask))
    assert costs_first is not None
    candidates = _candidates(snapshot, resolved, table, keys, costs_first, workload_value)
    chosen = next((s.recommendation for s in sections if s.recommendation is not None), None)
    question = Question(task=resolved.name, task_metric=resolved.metric, budget=budget_value,
                        workload=workload_value, hardware=tuple(s.hardware.name if s.hardware else None
                                                                for s in sections),
                        accounting=accounting or planner.accounting, dtype=planner.dtype, include=include,
                        filters={k: v for k, v in filters.items() if v is not None})
    return Report(question=question, candidates=candidates, sections=sections,
                  laws=_law_curves(snapshot, resolved, table, keys, chosen, workload_value.text_tokens), catalog_url=_catalog_url(planner),
                  data_version=planner._snapshot_version, version=__version__,
                  generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                  without_estimate=table.without_estimate)


def _hardware_list(planner: Planner, hardware: object) -> list[str | Hardware | None]:
    if hardware == () or hardware == []:
        return [planner.hardware]
    if hardware is None or isinstance(hardware, (str, Hardware)):
        return [hardware]
    if isinstance(hardware, Sequence) and all(isinstance(h, (str, Hardware, type(None))) for h in hardware):
        return list(dict.fromkeys(hardware))
    raise ValidationError(f"hardware must be a profile name, a Hardware, None or a list of them, got"
                          f" {type(hardware).__name__} {hardware!r:.60}", field="hardware", value=hardware)


def _catalog_url(planner: Planner) -> str:
    from vlmplanner.store.engine import mask_url

    return mask_url(planner._url) if planner._url is not None else planner.catalog.url


def _section(planner: Planner, table: CandidateTable, keys: list[str], costs: CostArrays, budget: Budget,
             workload: Workload, axis: str, include: Include, ask: dict[str, Any]) -> HardwareSection:
    from vlmplanner.planner.limits import budget_limits, within
    from vlmplanner.planner.planner import cost_on_axis, pareto

    recommendation: Recommendation | None = None
    problem = None
    try:
        recommendation = planner.recommend(budget=budget, include=include, **ask)
    except (NoFeasibleCandidateError, NoCandidateError) as exc:
        problem = exc.message
    except InvalidBudgetError as exc:
        if exc.field != "hardware":
            raise
        problem = exc.message
    fits = within(budget_limits(budget, costs, planner.hardware), len(table))
    frontier = {name: pareto(table.score, cost_on_axis(name, costs, budget.latency_kind)) for name in AXES}
    on_axis = cost_on_axis(axis, costs, budget.latency_kind)
    order = np.argsort(np.where(np.isfinite(on_axis), on_axis, np.inf), kind="stable")
    cheapest = [int(i) for i in order[:CHEAPEST] if math.isfinite(on_axis[i])]
    if recommendation is not None:
        shown = [recommendation.key, *(r.key for r in recommendation.runners_up)]
    else:
        shown = [keys[i] for i in cheapest]
    return HardwareSection(
        hardware=planner.hardware, recommendation=recommendation, problem=problem, prefill_s=costs.prefill_s,
        latency_s=costs.latency_s, usd_per_1k=costs.usd_per_1k, within_budget=fits, frontier=frontier,
        cheapest=cheapest, breakdowns=_breakdowns(planner, table, keys, shown, workload, ask.get("accounting")),
        budget_axis=axis,
    )


def _breakdowns(planner: Planner, table: CandidateTable, keys: list[str], shown: list[str], workload: Workload,
                accounting: str | None) -> list[Any]:
    from vlmplanner.cost import breakdown

    index = {key: i for i, key in enumerate(keys)} if shown else {}
    found = []
    for key in shown:
        i = index.get(key)
        if i is None:
            continue
        spec = table.models[table.model_index[i]]
        compressor = planner.snapshot.compressors[table.compressors[table.compressor_index[i]]]
        detail = breakdown(spec, compressor, int(table.visual_tokens[i]), workload, hardware=planner.hardware,
                           dtype=planner.dtype, accounting=accounting or planner.accounting)  # type: ignore[arg-type]
        found.append(detail.model_copy(update={"candidate": key}))
    return found


def _candidates(snapshot: Snapshot, task: ResolvedTask, table: CandidateTable, keys: list[str], costs: CostArrays,
                workload: Workload) -> Candidates:
    from vlmplanner.planner.laws import law_family

    n = len(table)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    provenance = ["predicted" if p else "mixed" for p in table.predicted]
    sources = [""] * n
    by_law: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # predicted rows, one law at a time
    families = [law_family(m) for m in table.models]
    for i in range(n):
        estimate = table.observed_estimate(i)
        if estimate is not None:
            provenance[i] = estimate.provenance
            sources[i] = "; ".join(estimate.sources)
        elif table.predicted[i] and not task.is_mix:
            by_law[(families[table.model_index[i]], table.compressors[table.compressor_index[i]],
                    task.benchmarks[0])].append(i)
        elif task.is_mix:
            provenance[i], sources[i] = _mix_origin(snapshot, task, table, families, i)
    sizes = np.array([m.llm.params_b for m in table.models])
    for key, rows in by_law.items():
        law = snapshot.laws.laws[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            prediction = law.predict(sizes[table.model_index[rows]], table.visual_tokens[rows])
        low[rows] = np.asarray(prediction.low, dtype=float)
        high[rows] = np.asarray(prediction.high, dtype=float)
        source = f"scaling law {law.label}, fitted on {law.n_points} points"
        for i in rows:
            sources[i] = source
    measured = {key: [m.model_dump(mode="json") for m in snapshot.measured_for(key, workload)]
                for key in snapshot.measurements}
    return Candidates(
        keys=keys, models=[table.models[i].checkpoint for i in table.model_index],
        compressors=[table.compressors[i] for i in table.compressor_index], visual_tokens=table.visual_tokens,
        score=table.score, low=low, high=high, fraction=_fractions(snapshot, task, table), provenance=provenance,
        sources=sources, extrapolated=table.extrapolated, runnable=table.runnable,
        why_not_runnable=["; ".join(r.reasons) for r in table.runnability], flops=costs.flops,
        prefill_flops=costs.prefill_flops, decode_flops=costs.decode_flops, memory_bytes=costs.memory_bytes,
        measured={key: rows for key, rows in measured.items() if rows},
    )


def _mix_origin(snapshot: Snapshot, task: ResolvedTask, table: CandidateTable, families: list[str],
                i: int) -> tuple[str, str]:
    """Where each benchmark of a mix's score comes from: its results' provenance and sources, or the
    law that predicted it."""
    checkpoint = table.models[table.model_index[i]].checkpoint
    compressor = table.compressors[table.compressor_index[i]]
    share = float(table.share[i])
    kinds, parts = set(), []
    for benchmark in task.benchmarks:
        found = (snapshot.observed_shares.get((checkpoint, compressor, benchmark), {}).get(share) if share == share
                 else snapshot.observed.get((checkpoint, compressor, benchmark), {}).get(int(table.visual_tokens[i])))
        if found:
            kinds.add(found[0].provenance)
            parts.append(f"{benchmark}: {'; '.join(dict.fromkeys(r.source for r in found))}")
            continue
        law = snapshot.laws.laws.get((families[table.model_index[i]], compressor, benchmark))
        kinds.add("predicted")
        parts.append(f"{benchmark}: scaling law {law.label if law else '?'}")
    return (kinds.pop() if len(kinds) == 1 else "mixed"), " | ".join(parts)


def _fractions(snapshot: Snapshot, task: ResolvedTask, table: CandidateTable) -> np.ndarray:
    """Each score as a share of its metric's maximum: a mix's and a family mean's already are."""
    if task.is_mix:
        return table.score.copy()
    maximum = snapshot.benchmarks[task.benchmarks[0]].max_score
    fraction = table.score / maximum if maximum else np.full(len(table), np.nan)
    return np.where(table.family_mean, table.score, fraction)


def _law_curves(snapshot: Snapshot, task: ResolvedTask, table: CandidateTable, keys: list[str],
                chosen: Recommendation | None, text_tokens: int) -> list[LawCurve]:
    """The laws behind this task's predictions: the chosen family's, the chosen compressor's first."""
    from vlmplanner.planner.laws import law_family

    laws = snapshot.laws
    benchmarks = set(task.benchmarks)
    families = ({law_family(chosen.model)} if chosen is not None
                else {law_family(table.models[i]) for i in set(table.model_index.tolist())})
    relevant = [k for k in laws.laws if k[2] in benchmarks and k[0] in families] or [
        k for k in laws.laws if k[2] in benchmarks]
    first = chosen.compressor.name if chosen is not None else "none"
    relevant.sort(key=lambda k: (k[1] != first, k[1] != "none", -laws.laws[k].n_points, k))
    chosen_on: tuple[str, str, float, float] | None = None
    if chosen is not None:
        row = keys.index(chosen.key)
        chosen_on = (law_family(chosen.model), chosen.compressor.name, chosen.model.llm.params_b,
                     float(table.visual_tokens[row]))
    return [_law_curve(snapshot, key, chosen_on, text_tokens) for key in relevant[:MAX_LAWS]]


def _law_curve(snapshot: Snapshot, key: tuple[str, str, str], chosen: tuple[str, str, float, float] | None,
               text_tokens: int) -> LawCurve:
    from vlmplanner.planner.laws import law_family

    family, compressor, benchmark = key
    law = snapshot.laws.laws[key]
    data = snapshot.laws.data[key]
    members = [m for m in snapshot.models.values() if law_family(m) == family]
    points = []
    for n, v, score in zip(data.n, data.v, data.score):
        results = [r for m in members if m.llm.params_b == n
                   for r in snapshot.observed.get((m.checkpoint, compressor, benchmark), {}).get(int(v), [])]
        points.append(LawPoint(
            model=", ".join(dict.fromkeys(r.model or "" for r in results)) or f"{n:g}B",
            params_b=n, visual_tokens=v, score=score,
            provenance="/".join(sorted({r.provenance for r in results})) or "published",
            sources=tuple(dict.fromkeys(r.source for r in results))))
    chosen_at = chosen[2:] if chosen is not None and chosen[:2] == (family, compressor) else None
    low_v, high_v = max(1.0, min(data.v)), max(data.v)
    if chosen_at:
        low_v, high_v = min(low_v, chosen_at[1]), max(high_v, chosen_at[1])
    sizes = sorted(set(data.n) | ({chosen_at[0]} if chosen_at else set()))
    grid = np.geomspace(low_v, high_v, _CURVE_POINTS) if high_v > low_v else np.array([low_v])
    curves = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        for n in sizes:
            prediction = law.predict(np.full(grid.shape, n), grid)
            curves[float(n)] = (grid.tolist(), np.asarray(prediction.score, dtype=float).tolist(),
                                np.asarray(prediction.low, dtype=float).tolist(),
                                np.asarray(prediction.high, dtype=float).tolist())
    optimal = law.optimal_visual_tokens(text_tokens)
    return LawCurve(
        label=law.label or f"{family} + {compressor} on {benchmark}", family=family, compressor=compressor,
        benchmark=benchmark,
        parameters={"alpha": law.alpha, "beta": law.beta, "A": law.A, "D": law.D, "r2": law.r2,
                    "loo_mae_points": law.loo_mae_points, "n_points": float(law.n_points),
                    "optimal_visual_tokens": optimal if math.isfinite(optimal) else None},
        curves=curves, points=tuple(points), chosen=(float(chosen_at[0]), float(chosen_at[1])) if chosen_at else None,
    )
