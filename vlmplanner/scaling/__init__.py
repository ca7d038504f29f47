"""Scaling laws of VLM quality in LLM size N and visual tokens V (Li et al., arXiv 2411.03312).

``Y = A·N^-α·V^-β + D`` with Y = 1 - score/scale. Fit with ``fit_scaling_law``; the resulting
``ScalingFit`` predicts scores with intervals and gives the inference-optimal token count.
Prediction needs numpy only; scipy is imported when fitting.
"""

from __future__ import annotations

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
