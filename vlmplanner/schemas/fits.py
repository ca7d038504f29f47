"""A stored scaling-law fit, as it leaves the catalog (the law itself lives in vlmplanner.scaling)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from ._base import Schema

__all__ = ["StoredFit"]


class StoredFit(Schema):
    family: str = Field(description="the law family: '<model_type>:<LLM series>', e.g. llava_next:Qwen1.5")
    compressor: str
    benchmark: str
    data_digest: str = Field(description="digest of the points the fit rests on; a change means refit")
    alpha: float
    beta: float
    loo_mae_points: float | None
    n_points: int
    fit: dict[str, Any] = Field(description="the full fit (vlmplanner.scaling.ScalingFit as JSON)")
    vlmplanner_version: str
    fitted_at: dt.datetime | None = None
