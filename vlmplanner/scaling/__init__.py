"""Scaling laws of VLM quality in LLM size N and visual tokens V (Li et al., arXiv 2411.03312).

``Y = A·N^-α·V^-β + D`` with Y = 1 - score/scale. Fit with ``fit_scaling_law``; the resulting
``ScalingFit`` predicts scores with intervals and gives the inference-optimal token count.
Prediction needs numpy only; scipy is imported when fitting. Names load on first use, so reading a
stored fit does not import the fitting code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fit import fit_scaling_law
    from .law import LAW_FORM, optimal_visual_tokens, predict_error
    from .result import Prediction, ScalingFit

__all__ = [
    "LAW_FORM",
    "Prediction",
    "ScalingFit",
    "fit_scaling_law",
    "optimal_visual_tokens",
    "predict_error",
]

_WHERE = {"fit_scaling_law": ".fit", "LAW_FORM": ".law", "optimal_visual_tokens": ".law", "predict_error": ".law",
          "Prediction": ".result", "ScalingFit": ".result"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'vlmplanner.scaling' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value
