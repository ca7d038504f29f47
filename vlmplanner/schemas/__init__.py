"""The shared nouns (see DESIGN.md), as immutable pydantic models."""

from ._base import Schema, build
from .benchmark import TASK_FAMILIES, Benchmark, Task, TaskFamily
from .budget import Budget
from .candidate import Candidate
from .compressor import CompressorKind, CompressorSpec, Training
from .fits import StoredFit
from .hardware import Hardware
from .model import LlmSpec, ModelSpec, VisionSpec
from .results import CostMeasurement, Provenance, QualityResult, ResultIn
from .workload import Workload

__all__ = [
    "TASK_FAMILIES",
    "Benchmark",
    "Budget",
    "Candidate",
    "CompressorKind",
    "CompressorSpec",
    "CostMeasurement",
    "Hardware",
    "LlmSpec",
    "ModelSpec",
    "Provenance",
    "QualityResult",
    "ResultIn",
    "Schema",
    "StoredFit",
    "Task",
    "TaskFamily",
    "Training",
    "VisionSpec",
    "Workload",
    "build",
]
