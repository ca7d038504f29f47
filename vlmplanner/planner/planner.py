"""The planner: the best (model, compressor, visual tokens) for a task under a budget.

Selection is pure and cheap: it reads a snapshot of the catalog and the fitted laws, costs every
candidate with the vectorized analytic model, drops those over any budget, and picks the best
quality. Loading the chosen model is Recommendation.instantiate()'s job, not this one's.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vlmplanner.errors import (
    ExtrapolationWarning,
    InvalidBudgetError,
    NoCandidateError,
    NoFeasibleCandidateError,
    UnknownHardwareError,
    UnknownModelError,
    ValidationError,
)
from vlmplanner.schemas import Budget, Hardware, Workload
from vlmplanner.schemas._base import build

from .laws import law_family
from .limits import Limit, budget_limits, within
from .reasons import explain
from .recommendation import (
    CandidateCost,
    FrontierPoint,
    QualityEstimate,
    RankedCandidate,
    Recommendation,
)
from .snapshot import Snapshot
from .table import CandidateTable, build_table
from .tasks import ResolvedTask, resolve_task

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vlmplanner.cost import CostArrays
    from vlmplanner.report import Report
    from vlmplanner.store import Catalog

__all__ = ["COST_AXES", "Planner", "as_budget", "as_workload", "budget_axis", "cost_on_axis", "describe_budget", "pareto"]

Accounting = Literal["full", "paper"]
#: Which candidates a recommendation may choose: those instantiate() can run, or all (what-if).
Include = Literal["runnable", "all"]
#: The data version of a catalog not created yet: what it would hold is the shipped data.
_SHIPPED = "shipped:"
RUNNERS_UP = 5
COST_AXES = {"flops": "GFLOPs", "latency_s": "ms", "usd": "USD per 1k requests", "memory": "GB"}


class Planner:
    """Recommend configurations from a catalog.

    ``catalog`` is a :class:`~vlmplanner.store.Catalog`, a URL, or None for the default catalog;
    ``hardware`` a profile name (``h100-sxm``, or a unique prefix such as ``h100``), a
    :class:`Hardware`, or None to cost FLOPs and memory only.
    """

    def __init__(self, catalog: Catalog | str | None = None, *, hardware: str | Hardware | None = "h100-sxm",
                 dtype: str = "bf16", accounting: Accounting = "full") -> None:
        from vlmplanner.cost.dtypes import resolve_dtype
        from vlmplanner.settings import resolve_catalog_url

        if not isinstance(catalog, (str, type(None))) and not _is_catalog(catalog):
            raise ValidationError(f"catalog must be a Catalog, a database URL or None, got {type(catalog).__name__}"
                                  f" {catalog!r:.60}", field="catalog", value=catalog)
        if not isinstance(hardware, (str, Hardware, type(None))):
            raise ValidationError(f"hardware must be a profile name such as 'h100-sxm', a Hardware or None, got"
                                  f" {type(hardware).__name__} {hardware!r:.60}", field="hardware", value=hardware)
        self.dtype = resolve_dtype(dtype).name  # before opening anything, so bad input fails cheaply
        self.accounting: Accounting = _accounting(accounting)
        # A URL's catalog opens only when the cached snapshot is stale or something needs it.
        self._catalog: Catalog | None = None if isinstance(catalog, (str, type(None))) else catalog
        self._url: str | None = resolve_catalog_url(catalog) if isinstance(catalog, (str, type(None))) else None
        self._snapshot: Snapshot | None = None
        self._snapshot_version: str | None = None  # the catalog's data version the snapshot was read at
        self._tables: dict[tuple[Any, ...], tuple[ResolvedTask, CandidateTable]] = {}
        try:
            self.hardware = self._resolve_hardware(hardware)
        except BaseException:
            self.close()
            raise

    # -- catalog snapshot ---------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        """The catalog, opened (and on first use created and seeded) when first needed."""
        if self._catalog is None:
            from vlmplanner.store import open_catalog

            self._catalog = open_catalog(self._url)
        return self._catalog

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = self._load_snapshot()
        return self._snapshot

    def _load_snapshot(self) -> Snapshot:
        from . import cache

        if self._url is None:  # a Catalog object: read it
            self._snapshot_version = self.catalog.data_version()
            return Snapshot.load(self.catalog)
        if self._catalog is None:
            version = self._current_version()
            cached, _ = cache.load_cached(self._url, version)
            if cached is not None:
                self._snapshot_version = version
                return cached
            if version is not None and version.startswith(_SHIPPED):  # nothing to open: read what it would hold
                from vlmplanner.store.shipped import load_shipped

                snapshot = Snapshot.from_shipped(load_shipped())
                cache.save_cached(self._url, version, snapshot)
                self._snapshot_version = version
                return snapshot
        catalog = self.catalog  # opens, creates and seeds as needed, checks the schema
        version = self._current_version()  # before reading: a write meanwhile makes this copy stale
        snapshot = Snapshot.load(catalog)
        cache.save_cached(self._url, version, snapshot)
        self._snapshot_version = version
        return snapshot

    def _current_version(self) -> str | None:
        """The catalog's data version now: read without SQLAlchemy for a SQLite file, and
        ``shipped:<digest>`` for a default catalog not created yet (it would hold the shipped data)."""
        from vlmplanner.store.stamp import data_version, not_created_yet

        if self._url is not None and self._catalog is None and not_created_yet(self._url):
            from vlmplanner.store.shipped import shipped_digest

            return f"{_SHIPPED}{shipped_digest()}"
        if self._url is not None and (version := data_version(self._url)) is not None:
            return version
        return self.catalog.data_version() if self._catalog is not None else None

    def _up_to_date(self) -> None:
        """Re-read the catalog if anything wrote to it since the snapshot was taken (one small query)."""
        if self._snapshot is not None and self._current_version() != self._snapshot_version:
            self.refresh()

    def refresh(self) -> None:
        """Re-read the catalog (and refit, in memory, laws whose results changed). recommend() and
        frontier() do this themselves when the catalog's data version changed."""
        self._snapshot = None
        self._tables.clear()

    def close(self) -> None:
        if self._url is not None and self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _resolve_hardware(self, hardware: str | Hardware | None) -> Hardware | None:
        if hardware is None or isinstance(hardware, Hardware):
            return hardware
        profiles = self.snapshot.hardware
        name = hardware.strip().lower()
        if name in profiles:
            return profiles[name]
        prefixed = [h for n, h in profiles.items() if n.startswith(name)]
        if len(prefixed) == 1:
            return prefixed[0]
        raise UnknownHardwareError(hardware, profiles)

    # -- the table for a task -----------------------------------------------------------------
    def _table(self, task: str, family: str | None, model: str | None, compressor: str | None,
               image_size: tuple[int, int] | None = None, training: str | None = None,
               include: Include = "all") -> tuple[ResolvedTask, CandidateTable]:
        """The candidate table for a task and filters; ``include="runnable"``: only the rows
        instantiate() can run (a subset of the ``"all"`` table, which is built once)."""
        key = (task, family, model, compressor, image_size, training, include)
        if include == "runnable" and key not in self._tables:
            resolved, every = self._table(task, family, model, compressor, image_size, training, "all")
            self._tables[key] = (resolved, every.subset(every.runnable))
        if key not in self._tables:
            snapshot = self.snapshot
            resolved = resolve_task(task, list(snapshot.benchmarks.values()))
            models = list(snapshot.models.values())
            if family is not None:
                families = {m.model_type for m in models} | {law_family(m) for m in models}
                if family not in families:
                    from vlmplanner.errors import NotFoundError

                    raise NotFoundError(family, families, hint="a family is an HF model_type such as llava_next")
                models = [m for m in models if family in (m.model_type, law_family(m))]
            if model is not None:
                if model not in snapshot.models:
                    raise UnknownModelError(model, snapshot.models)
                models = [snapshot.models[model]]
            names = sorted(snapshot.compressors)
            if compressor is not None:
                names = [snapshot.compressor(compressor).name]
            if training is not None:
                if training not in ("training-free", "trained"):
                    raise ValidationError(f"training must be 'training-free' or 'trained', got {training!r}",
                                          field="training", value=training)
                names = [n for n in names if snapshot.compressors[n].training == training]
            self._tables[key] = (resolved, build_table(snapshot, resolved, models=models, compressors=names,
                                                      image_size=image_size))
        return self._tables[key]

    def on_hardware(self, hardware: str | Hardware | None) -> Planner:
        """This planner priced on another hardware profile: the same catalog snapshot and candidate
        tables, so asking one question on several profiles reads the catalog once."""
        other = copy.copy(self)
        other.hardware = self._resolve_hardware(hardware)
        return other

    def costed(self, *, task: str, workload: Workload | dict[str, Any] | None = None,
               accounting: Accounting | None = None, family: str | None = None, model: str | None = None,
               compressor: str | None = None, training: str | None = None,
               include: Include = "runnable") -> tuple[ResolvedTask, CandidateTable, CostArrays]:
        """Every candidate for a task and filters with its cost on this planner's hardware: what
        recommend() chooses among, for reports and analyses that need all of it."""
        _filters(task=task, family=family, model=model, compressor=compressor, training=training)
        include = _include(include)
        self._up_to_date()
        workload = as_workload(workload)
        accounting = _accounting(self.accounting if accounting is None else accounting)
        resolved, table = self._table(task, family, model, compressor, workload.image_size, training, include)
        return resolved, table, self._costs(table, workload, accounting)

    # -- recommend ----------------------------------------------------------------------------
    def recommend(
        self,
        *,
        task: str,
        budget: Budget | dict[str, Any],
        workload: Workload | dict[str, Any] | None = None,
        objective: Literal["quality"] = "quality",
        accounting: Accounting | None = None,
        family: str | None = None,
        model: str | None = None,
        compressor: str | None = None,
        training: str | None = None,
        include: Include = "runnable",
    ) -> Recommendation:
        """The best-quality candidate within every limit of ``budget``.

        ``training="training-free"`` keeps only compressors that need no trained weights.
        ``include="runnable"`` (the default) chooses among candidates ``instantiate()`` can run;
        ``"all"`` also weighs the others (unimplemented compressors, unreleased checkpoints) as
        what-ifs, marked as such, with the best runnable alternative named.
        """
        if objective != "quality":
            raise ValidationError(f"unknown objective {objective!r}; supported: 'quality'", field="objective",
                                  value=objective)
        _filters(task=task, family=family, model=model, compressor=compressor, training=training)
        include = _include(include)
        self._up_to_date()
        budget = as_budget(budget)
        workload = as_workload(workload)
        accounting = _accounting(self.accounting if accounting is None else accounting)
        if (budget.latency_ms is not None or budget.usd_per_1k_requests is not None) and self.hardware is None:
            raise InvalidBudgetError("a latency or money budget needs a hardware profile (hardware=...)",
                                     field="hardware", value=None)
        if budget.usd_per_1k_requests is not None and self.hardware and self.hardware.price_usd_per_hour is None:
            raise InvalidBudgetError(f"hardware {self.hardware.name!r} has no price, so a money budget cannot be"
                                     " checked", field="hardware", value=self.hardware.name)
        filters = (task, family, model, compressor, workload.image_size, training)
        resolved, table = self._table(*filters, include)
        if len(table) == 0:
            raise self._no_estimate(task, self._table(*filters, "all")[1] if include == "runnable" else table)
        costs = self._costs(table, workload, accounting)
        axis, axis_values = _axis(budget, costs)
        limits = budget_limits(budget, costs, self.hardware)
        fits = within(limits, len(table))
        if not fits.any():
            raise self._nothing_fits(table, budget, costs, axis, axis_values, include)
        chosen = _best(table.score, axis_values, fits)
        return self._recommendation(resolved, table, costs, budget, workload, accounting, axis, axis_values,
                                    limits, fits, chosen, include)

    def frontier(self, *, task: str, workload: Workload | dict[str, Any] | None = None,
                 accounting: Accounting | None = None, cost_axis: str = "flops", family: str | None = None,
                 model: str | None = None, compressor: str | None = None,
                 include: Include = "runnable") -> list[FrontierPoint]:
        """The Pareto frontier of quality against one cost for a task, cheapest first, among the
        candidates instantiate() can run (``include="all"``: every candidate, each marked)."""
        _filters(task=task, family=family, model=model, compressor=compressor)
        include = _include(include)
        self._up_to_date()
        if cost_axis not in COST_AXES:
            raise ValidationError(f"unknown cost axis {cost_axis!r}; use one of {', '.join(COST_AXES)}", field="cost_axis",
                                  value=cost_axis)
        workload = as_workload(workload)
        accounting = _accounting(self.accounting if accounting is None else accounting)
        _, table = self._table(task, family, model, compressor, workload.image_size, include=include)
        costs = self._costs(table, workload, accounting)
        values = cost_on_axis(cost_axis, costs)
        return [_point(table, i, values, within_budget=True) for i in pareto(table.score, values)]

    def report(self, *, task: str, budget: Budget | dict[str, Any] | str,
               workload: Workload | dict[str, Any] | None = None,
               hardware: str | Hardware | Sequence[str | Hardware | None] | None = (),
               accounting: Accounting | None = None, family: str | None = None, model: str | None = None,
               compressor: str | None = None, training: str | None = None,
               include: Include = "runnable") -> Report:
        """A cost report for this question on each of ``hardware`` (default: this planner's profile):
        the recommendation, the frontier on every cost axis, the breakdown, the laws and every
        number's provenance. ``report.write("report.html")`` writes it (also .md, .json, .csv).
        A question nothing answers still gives a report, saying why and listing the cheapest options."""
        from vlmplanner.report.build import build_report

        return build_report(self, task=task, budget=budget, workload=workload, hardware=hardware,
                            accounting=accounting, family=family, model=model, compressor=compressor,
                            training=training, include=include)

    # -- pieces -------------------------------------------------------------------------------
    def _costs(self, table: CandidateTable, workload: Workload, accounting: Accounting) -> CostArrays:
        from vlmplanner.cost import evaluate

        compressors = [self.snapshot.compressors[name] for name in table.compressors]
        return evaluate(table.models, table.model_index, compressors, table.compressor_index, table.visual_tokens,
                        workload, hardware=self.hardware, dtype=self.dtype, accounting=accounting)

    def estimate(self, table: CandidateTable, i: int, *, warn: bool = False) -> QualityEstimate:
        """The quality estimate of row ``i``: observed as stored, or predicted with its interval."""
        if i in table._estimates:
            return table._estimates[i]
        task = table.task
        model = table.models[table.model_index[i]]
        compressor = table.compressors[table.compressor_index[i]]
        tokens = int(table.visual_tokens[i])
        if task.is_mix or not table.predicted[i]:
            return QualityEstimate.trusted(score=float(table.score[i]), metric=task.metric,
                                   provenance="predicted" if table.predicted[i] else "mixed",
                                   extrapolated=bool(table.extrapolated[i]))
        benchmark = task.benchmarks[0]
        law = self.snapshot.laws.laws[(law_family(model), compressor, benchmark)]
        with warnings.catch_warnings():
            if not warn:
                warnings.simplefilter("ignore", ExtrapolationWarning)
            prediction = law.predict([model.llm.params_b], [tokens])
        return QualityEstimate.trusted(
            score=float(np.asarray(prediction.score)[0]), low=float(np.asarray(prediction.low)[0]),
            high=float(np.asarray(prediction.high)[0]), metric=task.metric, provenance="predicted",
            extrapolated=bool(np.asarray(prediction.extrapolated)[0]), law=law.label,
            sources=(f"scaling law {law.label}, fitted on {law.n_points} points",),
        )

    def _recommendation(self, task: ResolvedTask, table: CandidateTable, costs: CostArrays, budget: Budget,
                        workload: Workload, accounting: Accounting, axis: str, axis_values: np.ndarray,
                        limits: list[Limit], fits: np.ndarray, chosen: int, include: Include) -> Recommendation:
        from vlmplanner.cost import breakdown

        snapshot = self.snapshot
        model = table.models[table.model_index[chosen]]
        compressor = snapshot.compressors[table.compressors[table.compressor_index[chosen]]]
        candidate = table.candidate(chosen)
        quality = self.estimate(table, chosen, warn=True)
        detail = breakdown(model, compressor, int(table.visual_tokens[chosen]), workload, hardware=self.hardware,
                           dtype=self.dtype, accounting=accounting)
        # Only real measurements of this workload count as "measured cost" (not traced or analytic rows).
        measured = snapshot.measured_for(candidate.key, workload)
        cost = CandidateCost.trusted(
            accounting=accounting, flops=float(costs.flops[chosen]), prefill_flops=float(costs.prefill_flops[chosen]),
            decode_flops=float(costs.decode_flops[chosen]), flops_by_component=dict(detail.flops),
            memory_bytes=float(costs.memory_bytes[chosen]), memory_by_component=dict(detail.memory_bytes),
            prefill_s=_finite(costs.prefill_s[chosen]), latency_s=_finite(costs.latency_s[chosen]),
            usd_per_1k_requests=_finite(costs.usd_per_1k[chosen]),
            hardware=self.hardware.name if self.hardware else None, dtype=self.dtype,
            measured=measured[-1].model_dump(mode="json") if measured else None, notes=tuple(detail.notes),
        )
        order = _top(table.score, fits, chosen, RUNNERS_UP)
        runners = tuple(
            RankedCandidate.trusted(key=table.key(i), quality=self.estimate(table, i), flops=float(costs.flops[i]),
                            latency_s=_finite(costs.latency_s[i]), memory_bytes=float(costs.memory_bytes[i]),
                            usd_per_1k_requests=_finite(costs.usd_per_1k[i]),
                            runnable=table.runnability[i].runnable)
            for i in order
        )
        frontier = tuple(_point(table, i, axis_values, within_budget=bool(fits[i]))
                         for i in pareto(table.score, axis_values))
        runnable = table.runnability[chosen]
        alternative = None
        if not runnable.runnable:
            runnable_fits = fits & table.runnable
            if runnable_fits.any():
                alternative = table.key(_best(table.score, axis_values, runnable_fits))
        law = snapshot.laws.laws.get((law_family(model), compressor.name, task.benchmarks[0])) if not task.is_mix else None
        law_summary = None
        if law is not None:
            law_summary = {"label": law.label, "alpha": law.alpha, "beta": law.beta, "A": law.A, "D": law.D,
                           "loo_mae_points": law.loo_mae_points,
                           "optimal_visual_tokens": _finite(law.optimal_visual_tokens(workload.text_tokens))}
        reason = explain(table=table, chosen=chosen, limits=limits, axis_values=axis_values, costs=costs,
                         quality=quality, workload=workload, law=law_summary, accounting=accounting,
                         runnable=runnable, alternative=alternative)
        return Recommendation.trusted(
            candidate=candidate, model=model, compressor=compressor, task=task.name, quality=quality, cost=cost,
            budget=budget, workload=workload, cost_axis=axis, frontier=tuple(p.key for p in frontier),
            frontier_points=frontier, runners_up=runners, reason=reason, considered=len(table),
            feasible=int(fits.sum()), without_estimate=table.without_estimate, law=law_summary,
            include=include, runnable=runnable, runnable_alternative=alternative,
        )

    def _no_estimate(self, task: str, every: CandidateTable) -> NoCandidateError:
        """No candidate to choose from: none has an estimate, or none of those that do can run."""
        if len(every):
            best = int(np.argmax(every.score))
            return NoCandidateError(
                f"no candidate vlmplanner can run has a measured, published or predicted quality for {task!r} with"
                f" these filters; {len(every)} that it cannot run do (include='all', or --include-unrunnable,"
                f" weighs them as what-ifs). The best of them, {every.key(best)}:"
                f" {'; '.join(every.runnability[best].reasons)}", task=task, unrunnable=len(every))
        return NoCandidateError(f"no candidate has a measured, published or predicted quality for {task!r} with"
                                " these filters; widen the filters or add results", task=task)

    def _nothing_fits(self, table: CandidateTable, budget: Budget, costs: CostArrays, axis: str,
                      axis_values: np.ndarray, include: Include) -> NoFeasibleCandidateError:
        cheapest = int(np.nanargmin(np.where(np.isnan(axis_values), np.inf, axis_values)))
        needs = _describe_cost(costs, cheapest)
        limits = describe_budget(budget)
        device = f" on {self.hardware.name}" if self.hardware else ""
        which = "runnable candidate" if include == "runnable" else "candidate"
        return NoFeasibleCandidateError(
            f"no {which} fits {limits}{device}; the cheapest, {table.key(cheapest)}, needs {needs}",
            cheapest={"key": table.key(cheapest), "flops": float(costs.flops[cheapest]),
                      "latency_s": _finite(costs.latency_s[cheapest]), "memory_bytes": float(costs.memory_bytes[cheapest]),
                      "usd_per_1k_requests": _finite(costs.usd_per_1k[cheapest])},
            field="budget", value=budget.model_dump(exclude_none=True),
        )


def _is_catalog(value: object) -> bool:
    from vlmplanner.store import Catalog

    return isinstance(value, Catalog)


def _filters(*, task: object, **optional: object) -> None:
    """The task is required text; each filter is text or None."""
    if not isinstance(task, str):
        raise ValidationError(f"task must be a benchmark (GQA), a task family (visual-reasoning) or a mix"
                              f" ('GQA:1,TextVQA:1'), got {type(task).__name__} {task!r:.60}", field="task", value=task)
    for name, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{name} must be a name or None, got {type(value).__name__} {value!r:.60}",
                                  field=name, value=value)


def as_budget(value: object) -> Budget:
    """A Budget, a mapping of its fields, or one limit as text with its unit ('1000 GFLOPs')."""
    if isinstance(value, Budget):
        return value
    if isinstance(value, str):
        return Budget.parse(value)
    if isinstance(value, dict):
        return build(Budget, value)
    hint = " (a bare number has no unit: write Budget(gflops=1000) or '1000 GFLOPs')" if isinstance(
        value, (int, float)) else ""
    raise InvalidBudgetError(f"budget must be a Budget, a dict of its limits or text such as '1000 GFLOPs', got"
                             f" {type(value).__name__} {value!r:.60}{hint}", field="budget", value=value)


def as_workload(value: object) -> Workload:
    if isinstance(value, Workload):
        return value
    if value is None:
        return Workload()
    if isinstance(value, dict):
        return build(Workload, value)
    raise ValidationError(f"workload must be a Workload, a dict of its fields or None, got {type(value).__name__}"
                          f" {value!r:.60}", field="workload", value=value)


def _include(value: object) -> Include:
    if not isinstance(value, str) or value not in ("runnable", "all"):
        raise ValidationError(f"include must be 'runnable' (candidates instantiate() can run) or 'all' (what-ifs"
                              f" too), got {value!r}", field="include", value=value)
    return value  # type: ignore[return-value]


def _point(table: CandidateTable, i: int, values: np.ndarray, *, within_budget: bool) -> FrontierPoint:
    return FrontierPoint.trusted(key=table.key(i), score=float(table.score[i]),
                                 provenance="predicted" if table.predicted[i] else "observed",
                                 cost=float(values[i]), within_budget=within_budget,
                                 runnable=table.runnability[i].runnable)


def _accounting(value: object) -> Accounting:
    if not isinstance(value, str) or value not in ("full", "paper"):
        raise ValidationError(f"accounting must be 'full' or 'paper', got {value!r}", field="accounting", value=value)
    return value  # type: ignore[return-value]


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def cost_on_axis(axis: str, costs: CostArrays, latency_kind: str = "end-to-end") -> np.ndarray:
    if axis == "flops":
        return costs.flops
    if axis == "latency_s":
        return costs.prefill_s if latency_kind == "prefill" else costs.latency_s
    if axis == "usd":
        return costs.usd_per_1k
    if axis == "memory":
        return costs.memory_bytes
    raise ValidationError(f"unknown cost axis {axis!r}; use one of {', '.join(COST_AXES)}", field="cost_axis", value=axis)


def budget_axis(budget: Budget) -> str:
    """The cost the frontier is drawn against: the first limit the budget sets (FLOPs if none)."""
    for axis, limit in (("flops", budget.gflops), ("latency_s", budget.latency_ms),
                        ("usd", budget.usd_per_1k_requests), ("memory", budget.memory_gb)):
        if limit is not None:
            return axis
    return "flops"


def _axis(budget: Budget, costs: CostArrays) -> tuple[str, np.ndarray]:
    axis = budget_axis(budget)
    return axis, cost_on_axis(axis, costs, budget.latency_kind)


def _best(score: np.ndarray, cost: np.ndarray, within: np.ndarray) -> int:
    """Highest score within budget; among equal scores, the cheapest. O(n), no sort."""
    masked = np.where(within, score, -np.inf)
    top = masked.max()
    ties = np.flatnonzero(masked == top)
    return int(ties[np.argmin(cost[ties])])


def _top(score: np.ndarray, within: np.ndarray, exclude: int, k: int) -> list[int]:
    """The ``k`` best-scoring rows within budget other than ``exclude``, best first."""
    masked = np.where(within, score, -np.inf)
    masked[exclude] = -np.inf
    available = int(np.isfinite(masked).sum())
    k = min(k, available)
    if k == 0:
        return []
    part = np.argpartition(-masked, k - 1)[:k]
    return [int(i) for i in part[np.argsort(-masked[part], kind="stable")]]


def pareto(score: np.ndarray, cost: np.ndarray) -> list[int]:
    """Rows no other row beats on both cost (lower) and score (higher), cheapest first."""
    valid = np.flatnonzero(np.isfinite(cost))
    if valid.size == 0:
        return []
    order = valid[np.lexsort((-score[valid], cost[valid]))]
    ranked = score[order]
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(ranked)[:-1]))
    return [int(i) for i in order[ranked > best_before]]


def describe_budget(budget: Budget) -> str:
    parts = []
    if budget.gflops is not None:
        parts.append(f"{budget.gflops:,.6g} GFLOPs")
    if budget.latency_ms is not None:
        parts.append(f"{budget.latency_ms:,.6g} ms ({budget.latency_kind})")
    if budget.memory_gb is not None:
        parts.append(f"{budget.memory_gb:,.6g} GB")
    if budget.usd_per_1k_requests is not None:
        parts.append(f"${budget.usd_per_1k_requests:,.6g} per 1k requests")
    return "a budget of " + " and ".join(parts)


def _describe_cost(costs: CostArrays, i: int) -> str:
    parts = [f"{costs.flops[i] / 1e9:,.4g} GFLOPs", f"{costs.memory_bytes[i] / 1e9:,.3g} GB"]
    if math.isfinite(costs.latency_s[i]):
        parts.append(f"{costs.latency_s[i] * 1e3:,.4g} ms")
    if math.isfinite(costs.usd_per_1k[i]):
        parts.append(f"${costs.usd_per_1k[i]:,.4g} per 1k requests")
    return ", ".join(parts)
