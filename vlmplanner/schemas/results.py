"""Quality results and cost measurements, each with where its number came from."""

from __future__ import annotations

import datetime as dt
import math
import re
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


_RATIO = re.compile(r"^\s*ratio\s*=\s*(\d+(?:\.\d+)?)(?![\d.])")


def share_of_label(label: str, compressor: str) -> float | None:
    """The share a source's token label states, exactly as printed (``ratio=0.0625`` -> 0.0625), or
    None. ``dynamic`` for ``none``: every native token (1.0)."""
    found = _RATIO.match(label)
    if found:
        value = float(found.group(1))
        return value if 0 < value <= 1 else None
    if compressor == "none" and label.strip().lower().startswith("dynamic"):
        return 1.0
    return None


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
        if self.model is None or (self.visual_tokens is None and self.share is None):
            return None
        from .candidate import Candidate

        return Candidate.trusted(model=self.model, compressor=self.compressor, visual_tokens=self.visual_tokens,
                                 share=self.share).key

    @property
    def share(self) -> float | None:
        """The share of each image's native tokens the result kept, where the source gave that instead
        of a count: ``ratio=0.25 (75% reduction)``, ``ratio=0.05 of avg tokens``; ``dynamic ...`` for
        ``none`` (all of them). None when the result has a count, or the label is no share."""
        return share_of_label(self.visual_tokens_label, self.compressor) if self.visual_tokens is None else None


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
