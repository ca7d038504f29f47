"""vlmplanner: pick and run the inference-optimal vision-language model configuration for a budget.

Importing the package is cheap: names are resolved on first use, and nothing here imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .errors import (
        CatalogConnectionError,
        CatalogError,
        CatalogOutOfDateError,
        CatalogWriteError,
        NoFeasibleCandidateError,
        NotFoundError,
        ValidationError,
        VlmPlannerError,
    )
    from .pipeline import load
    from .planner import Planner, Recommendation
    from .report import Report
    from .schemas import (
        Benchmark,
        Budget,
        Candidate,
        CompressorSpec,
        CostMeasurement,
        Hardware,
        ModelSpec,
        QualityResult,
        ResultIn,
        Task,
        Workload,
    )
    from .store import Catalog, SeedReport, open_catalog

_LAZY: dict[str, str] = {
    "Benchmark": "vlmplanner.schemas",
    "Budget": "vlmplanner.schemas",
    "Candidate": "vlmplanner.schemas",
    "Catalog": "vlmplanner.store",
    "CatalogConnectionError": "vlmplanner.errors",
    "CatalogError": "vlmplanner.errors",
    "CatalogOutOfDateError": "vlmplanner.errors",
    "CatalogWriteError": "vlmplanner.errors",
    "CompressorSpec": "vlmplanner.schemas",
    "CostMeasurement": "vlmplanner.schemas",
    "Hardware": "vlmplanner.schemas",
    "load": "vlmplanner.pipeline",
    "ModelSpec": "vlmplanner.schemas",
    "NoFeasibleCandidateError": "vlmplanner.errors",
    "NotFoundError": "vlmplanner.errors",
    "Planner": "vlmplanner.planner",
    "QualityResult": "vlmplanner.schemas",
    "Recommendation": "vlmplanner.planner",
    "Report": "vlmplanner.report",
    "ResultIn": "vlmplanner.schemas",
    "SeedReport": "vlmplanner.store",
    "Task": "vlmplanner.schemas",
    "ValidationError": "vlmplanner.errors",
    "VlmPlannerError": "vlmplanner.errors",
    "Workload": "vlmplanner.schemas",
    "open_catalog": "vlmplanner.store",
}

__all__ = [
    "__version__",
    "Benchmark",
    "Budget",
    "Candidate",
    "Catalog",
    "CatalogConnectionError",
    "CatalogError",
    "CatalogOutOfDateError",
    "CatalogWriteError",
    "CompressorSpec",
    "CostMeasurement",
    "Hardware",
    "load",
    "ModelSpec",
    "NoFeasibleCandidateError",
    "NotFoundError",
    "open_catalog",
    "Planner",
    "QualityResult",
    "Recommendation",
    "Report",
    "ResultIn",
    "SeedReport",
    "Task",
    "ValidationError",
    "VlmPlannerError",
    "Workload",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmplanner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
