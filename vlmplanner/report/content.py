"""What a cost report holds: plain data, computed once, that every format renders.

The HTML, Markdown, JSON and CSV writers read the same :class:`Report`, so the four never
disagree. Candidate numbers are columns (one numpy array per quantity, one entry per candidate),
which keeps a 100,000-candidate catalog cheap; plots thin what they draw, the columns never change.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vlmplanner.cost import CostBreakdown
    from vlmplanner.planner import Recommendation
    from vlmplanner.schemas import Budget, Hardware, Workload

__all__ = ["AXES", "Candidates", "HardwareSection", "LawCurve", "LawPoint", "Question", "Report"]

#: The cost axes a report draws quality against: key -> (label, unit, scale from the stored SI value).
AXES: dict[str, tuple[str, str, float]] = {
    "flops": ("compute", "GFLOPs per request", 1e-9),
    "latency_s": ("latency", "ms per batch", 1e3),
    "memory": ("memory", "GB", 1e-9),
    "usd": ("money", "USD per 1k requests", 1.0),
}
#: Where each kind of number comes from, as the report's legend explains it.
PROVENANCE = {
    "measured": "measured by vlmplanner evaluate or profile on a stated device",
    "imported": "read from an lmms-eval or VLMEvalKit result file",
    "published": "taken from a paper or repository, cited with its table or file",
    "predicted": "a fitted scaling law's prediction (with its interval), or the analytic cost model",
    "mixed": "a mean of benchmarks with different provenances",
}


@dataclass(frozen=True)
class Question:
    """What was asked: the same inputs as ``recommend()``, with one or several hardware profiles."""

    task: str
    task_metric: str
    budget: Budget
    workload: Workload
    hardware: tuple[str | None, ...]
    accounting: str
    dtype: str
    include: str
    filters: dict[str, str]


@dataclass
class Candidates:
    """Every candidate the question ranks, hardware-independent columns (index = candidate)."""

    keys: list[str]
    models: list[str]
    compressors: list[str]
    visual_tokens: np.ndarray
    score: np.ndarray
    low: np.ndarray  # NaN where no interval (observed scores)
    high: np.ndarray
    fraction: np.ndarray  # the score as a share of its metric's maximum (NaN where unbounded)
    provenance: list[str]
    sources: list[str]
    extrapolated: np.ndarray
    runnable: np.ndarray
    why_not_runnable: list[str]
    flops: np.ndarray
    prefill_flops: np.ndarray
    decode_flops: np.ndarray
    memory_bytes: np.ndarray
    #: candidate key -> its real cost measurements in the catalog for this workload (as dumped)
    measured: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class HardwareSection:
    """The question answered on one hardware profile (or on none: FLOPs and memory only)."""

    hardware: Hardware | None
    recommendation: Recommendation | None
    #: why there is no recommendation (nothing fits, no candidate, a money budget without a price)
    problem: str | None
    prefill_s: np.ndarray
    latency_s: np.ndarray
    usd_per_1k: np.ndarray
    within_budget: np.ndarray
    #: axis -> candidate indices on the quality/cost Pareto frontier, cheapest first
    frontier: dict[str, list[int]]
    #: the cheapest candidates on the budget's axis (shown when nothing fits)
    cheapest: list[int]
    #: the chosen candidate and the runners-up (or the cheapest), component by component
    breakdowns: list[CostBreakdown]
    budget_axis: str

    @property
    def name(self) -> str:
        return self.hardware.name if self.hardware is not None else "no hardware"

    @property
    def priced(self) -> bool:
        return self.hardware is not None and self.hardware.price_usd_per_hour is not None

    def available(self, axis: str) -> str | None:
        """Why ``axis`` has no numbers on this profile, or None when it has."""
        if axis == "latency_s" and self.hardware is None:
            return "no hardware profile: latency needs one"
        if axis == "usd" and self.hardware is None:
            return "no hardware profile: money needs one"
        if axis == "usd" and not self.priced:
            return f"unavailable: hardware {self.name!r} has no price per hour"
        return None

    def usd_per_1k_correct(self, candidates: Candidates) -> np.ndarray:
        """Money per 1,000 correct answers: the cost of 1,000 requests over the share answered
        correctly (the score as a fraction of its maximum)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(candidates.fraction > 0, self.usd_per_1k / candidates.fraction, np.nan)


@dataclass(frozen=True)
class LawPoint:
    """One result a law was fitted on: a model's score at a visual-token count, with its origin."""

    model: str
    params_b: float
    visual_tokens: float
    score: float
    provenance: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class LawCurve:
    """A fitted scaling law drawn against visual tokens, one curve (and interval band) per LLM size."""

    label: str
    family: str
    compressor: str
    benchmark: str
    parameters: dict[str, float | None]
    #: LLM size (B params) -> (visual tokens, predicted score, low, high), each a list of floats
    curves: dict[float, tuple[list[float], list[float], list[float], list[float]]]
    points: tuple[LawPoint, ...]
    chosen: tuple[float, float] | None  # (N, V) of the recommendation on this law, if it is on it


@dataclass
class Report:
    """A cost report: the question, its answer on each hardware profile, and the evidence."""

    question: Question
    candidates: Candidates
    sections: list[HardwareSection]
    laws: list[LawCurve]
    catalog_url: str
    data_version: str | None
    version: str
    generated_at: dt.datetime
    #: candidates the planner skipped for want of any quality estimate
    without_estimate: int = 0

    def values(self, section: HardwareSection, axis: str) -> np.ndarray:
        """Every candidate's cost on ``axis`` on ``section``'s profile, in SI units (latency: what
        the budget limits, end-to-end or prefill)."""
        if axis == "latency_s":
            return section.prefill_s if self.question.budget.latency_kind == "prefill" else section.latency_s
        return {"flops": self.candidates.flops, "memory": self.candidates.memory_bytes,
                "usd": section.usd_per_1k}[axis]

    def budget_limit(self, axis: str) -> float | None:
        """The budget's limit on ``axis`` in the unit the report draws it in (AXES), if it sets one."""
        b = self.question.budget
        return {"flops": b.gflops, "latency_s": b.latency_ms, "memory": b.memory_gb,
                "usd": b.usd_per_1k_requests}[axis]

    @property
    def title(self) -> str:
        return f"vlmplanner cost report: {self.question.task}"

    def write(self, path: str | Any, *, format: str | None = None) -> Any:
        """Write the report to ``path`` in the format its suffix names (.html, .md, .json, .csv),
        or ``format``; returns the path written."""
        from .write import write_report

        return write_report(self, path, format=format)

    def render(self, format: str) -> str:
        """The report as text in ``format`` (html, md, json or csv)."""
        from .write import render

        return render(self, format)

    def _repr_html_(self) -> str:
        """The HTML report in Jupyter, inside a frame so that its page styles leave the notebook's alone."""
        import html

        return (f'<iframe title="{html.escape(self.title)}" style="width: 100%; height: 900px; border: 1px solid'
                f' #ddd;" srcdoc="{html.escape(self.render("html"), quote=True)}"></iframe>')


def finite(value: float) -> float | None:
    """A number for JSON: NaN and infinities become null."""
    value = float(value)
    return value if math.isfinite(value) else None
