"""Efficiency factors: the fraction of a device's peak FLOP/s and bandwidth a real run achieves."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmplanner.errors import ValidationError

__all__ = ["Efficiency"]


@dataclass(frozen=True)
class Efficiency:
    """Achieved fractions of peak compute and of peak memory bandwidth, each in (0, 1].

    The defaults (0.5 of peak FLOP/s, 0.8 of bandwidth) are typical of HF-style inference; they are
    meant to be replaced by values calibrated on measured runs (docs/cost-model.md says how):
    ``compute`` from compute-bound prefills, ``bandwidth`` from batch-1 decode steps.
    """

    compute: float = 0.5
    bandwidth: float = 0.8

    def __post_init__(self) -> None:
        for field in ("compute", "bandwidth"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0.0 < value <= 1.0:
                raise ValidationError(
                    f"efficiency {field} must be a number in (0, 1], got {value!r}", field=field, value=value
                )
