"""The analytic cost model: FLOPs, parameters, memory and roofline latency of VLM candidates.

``evaluate`` costs a whole sweep at once (numpy arrays, one entry per candidate); ``breakdown``
explains one candidate component by component with the same formulas. docs/cost-model.md states
every formula and convention. Importing this package imports numpy; ``import vlmplanner`` does not.
"""

from __future__ import annotations

from .breakdown import CostBreakdown, breakdown
from .dtypes import DTYPES
from .efficiency import Efficiency
from .evaluate import CostArrays, evaluate
from .vision import native_token_range, visual_tokens_per_image

__all__ = [
    "DTYPES",
    "CostArrays",
    "CostBreakdown",
    "Efficiency",
    "breakdown",
    "evaluate",
    "native_token_range",
    "visual_tokens_per_image",
]
