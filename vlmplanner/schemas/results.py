"""Quality results and cost measurements, each with where its number came from."""

from __future__ import annotations

import datetime as dt
import math
from typing import ClassVar, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, field_validator

from vlmplanner.errors import InvalidTokenCountError, ValidationError

from ._base import Count, Number, Schema

__all__ = ["CostMeasurement", "Provenance", "QualityResult", "ResultIn"]

#: published: a paper or repository printed it; measured: vlmplanner ran it; imported: read from
#: another tool's result file; predicted: a fitted scaling law (never stored as a result).
Provenance = Literal["published", "measured", "imported", "predicted"]


class ResultIn(Schema):
    """One quality result to write. Names are resolved and the score range checked on write."""

    field_error_classes: ClassVar[dict[str, type[ValidationError]]] = {"visual_tokens": InvalidTokenCountError}

    model: str = Field(min_length=1, description="a catalog checkpoint")
    compressor: str = Field(min_length=1)
    visual_tokens: Count
    benchmark: str = Field(min_length=1)
    score: Number
    source: str = Field(min_length=1, description="where the number comes from")
    provenance: Literal["published", "measured", "imported"] = "measured"
    note: str = ""
    device: str = ""
    dtype: str = ""
    versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("score")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("score must be a finite number")
        return value


class QualityResult(Schema):
    """A stored quality result, as it leaves the catalog.

    ``*_label`` fields keep the names exactly as the source printed them; ``model`` and
    ``visual_tokens`` are None when the source's model or token count maps to no single catalog
    entry (for example "LLaVA-1.5 (size not stated)" or "ratio=0.20 of avg tokens").
    """

    id: int
    model: str | None
    model_label: str
    compressor: str
    compressor_label: str
    visual_tokens: PositiveInt | None
    visual_tokens_label: str
    benchmark: str
    metric: str
    task_family: str
    score: float
    provenance: Provenance
    source: str
    secondary: bool = False
    flags: tuple[str, ...] = ()
    note: str = ""
    device: str = ""
    dtype: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    recorded_at: dt.datetime | None = None

    @property
    def candidate_key(self) -> str | None:
        if self.model is None or self.visual_tokens is None:
            return None
        return f"{self.model}+{self.compressor}@{self.visual_tokens}"


class CostMeasurement(Schema):
    """The cost of one candidate under one workload on one device, by one method."""

    candidate_key: str
    method: Literal["analytic", "traced", "fvcore", "measured"]
    device: str = Field(description="device name as recorded, e.g. 'NVIDIA H100 80GB HBM3' or 'cpu'")
    dtype: str
    batch_size: PositiveInt = 1
    text_tokens: NonNegativeInt = 0
    output_tokens: NonNegativeInt = 0
    status: Literal["ok", "oom", "infeasible", "failed"] = "ok"
    flops: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="FLOPs (2 x multiply-adds) per component"
    )
    prefill_ms: NonNegativeFloat | None = None
    prefill_ms_spread: NonNegativeFloat | None = None
    decode_ms_per_token: NonNegativeFloat | None = None
    peak_memory_bytes: NonNegativeInt | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    note: str = ""
    recorded_at: dt.datetime | None = None
