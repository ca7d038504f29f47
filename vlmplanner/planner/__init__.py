"""The planner: recommend(budget, task, workload, hardware) -> Recommendation."""

from .planner import Planner
from .recommendation import (
    CandidateCost,
    FrontierPoint,
    QualityEstimate,
    RankedCandidate,
    Recommendation,
)
from .tasks import FAMILY_AGGREGATES, ResolvedTask, resolve_task

__all__ = [
    "FAMILY_AGGREGATES",
    "CandidateCost",
    "FrontierPoint",
    "Planner",
    "QualityEstimate",
    "RankedCandidate",
    "Recommendation",
    "ResolvedTask",
    "resolve_task",
]
