"""What recommend() returns: the choice, its quality and where that came from, its cost, the
frontier, the runners-up and the reason, all plain data (``model_dump_json()`` is the CLI's JSON)."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from vlmplanner.pipeline.runnable import RUNNABLE, Runnability
from vlmplanner.schemas import Budget, Candidate, CompressorSpec, ModelSpec, Workload
from vlmplanner.schemas._base import Schema

if TYPE_CHECKING:
    from vlmplanner.pipeline.runner import VLMPipeline

__all__ = ["CandidateCost", "FrontierPoint", "QualityEstimate", "QualityPart", "RankedCandidate", "Recommendation"]


class QualityPart(Schema):
    """One benchmark behind a task-family estimate, on its own scale, with where it came from."""

    benchmark: str
    score: float
    max_score: float
    provenance: Literal["measured", "imported", "published"]
    sources: tuple[str, ...] = ()


class QualityEstimate(Schema):
    """A candidate's quality on the task, always labelled with where it came from."""

    score: float
    low: float | None = Field(None, description="lower end of the interval (predictions only)")
    high: float | None = None
    metric: str
    provenance: Literal["measured", "imported", "published", "predicted", "mixed"]
    sources: tuple[str, ...] = ()
    n_results: int = 0
    flags: tuple[str, ...] = Field((), description="caveats of the results behind it (see catalog/README.md)")
    extrapolated: bool = False
    law: str | None = Field(None, description="the fitted law a prediction came from")
    parts: tuple[QualityPart, ...] = Field(
        (), description="a task-family estimate: the benchmarks it averages, each as a fraction of its maximum")


class CandidateCost(Schema):
    """Per-request cost. ``flops`` is the total; ``flops_by_component`` says where it goes."""

    accounting: Literal["full", "paper"]
    flops: float
    prefill_flops: float
    decode_flops: float
    flops_by_component: dict[str, float]
    memory_bytes: float
    memory_by_component: dict[str, float]
    prefill_s: float | None
    latency_s: float | None
    usd_per_1k_requests: float | None
    hardware: str | None
    dtype: str
    measured: dict[str, Any] | None = Field(None, description="measured cost from the catalog, when profiled")
    notes: tuple[str, ...] = ()


class RankedCandidate(Schema):
    key: str
    quality: QualityEstimate
    flops: float
    latency_s: float | None
    memory_bytes: float
    usd_per_1k_requests: float | None
    runnable: bool = Field(True, description="whether instantiate() can run it (see Recommendation.runnable)")


class FrontierPoint(Schema):
    key: str
    score: float
    provenance: str
    cost: float
    within_budget: bool
    runnable: bool = True


class Recommendation(Schema):
    """The best configuration for a task under a budget, with the evidence for it."""

    candidate: Candidate
    model: ModelSpec
    compressor: CompressorSpec
    task: str
    quality: QualityEstimate
    cost: CandidateCost
    budget: Budget
    workload: Workload
    objective: Literal["quality"] = "quality"
    cost_axis: str = Field(description="the cost the frontier is drawn against: flops, latency_s, usd or memory")
    frontier: tuple[str, ...] = Field(description="candidate keys on the quality/cost Pareto frontier, cheapest first")
    frontier_points: tuple[FrontierPoint, ...] = ()
    runners_up: tuple[RankedCandidate, ...] = ()
    reason: str
    considered: int = Field(description="candidates with a quality estimate")
    feasible: int = Field(description="candidates within every budget")
    without_estimate: int = Field(0, description="(model, compressor) pairs skipped for want of any estimate")
    law: dict[str, Any] | None = Field(None, description="the law behind predictions for the chosen family, if any")
    include: Literal["runnable", "all"] = Field(
        "runnable", description="runnable: chosen among candidates instantiate() can run; all: what-ifs too")
    runnable: Runnability = Field(RUNNABLE, description="whether instantiate() can run the choice, and why not")
    runnable_alternative: str | None = Field(
        None, description="the best runnable candidate within the budget, when the choice is a what-if")

    @property
    def key(self) -> str:
        return self.candidate.key

    def instantiate(self, device: str = "cpu", dtype: Any = None, checkpoint: str | PathLike[str] | None = None,
                    trust_remote_code: bool = False, *,
                    compressor_weights: str | PathLike[str] | None = None,
                    architecture: str = "strict") -> VLMPipeline:
        """Load this configuration and return a pipeline whose ``generate(images, prompts)`` returns
        text (``vlmplanner.pipeline.instantiate``; needs the torch extra). ``checkpoint``: a local
        directory holding the weights, instead of the model's checkpoint id; ``architecture="tokens"``
        lets it be a small stand-in with the same visual-token geometry."""
        from vlmplanner.pipeline import instantiate

        return instantiate(self, device=device, dtype=dtype, checkpoint=checkpoint,
                           trust_remote_code=trust_remote_code, compressor_weights=compressor_weights,
                           architecture=architecture)

    def _repr_html_(self) -> str:
        """The recommendation as a card in Jupyter: the choice, its quality and cost with their
        provenance, the reason and the runners-up."""
        from vlmplanner.report.card import recommendation_card

        return recommendation_card(self)
