"""A fitted law as a stored value (``ScalingFit``) and what it predicts (``Prediction``).

The fit keeps its bootstrap parameter draws, so predictions come with intervals without refitting
and without scipy: a fit read back from the catalog predicts exactly as the fresh one did.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field

from vlmplanner.errors import ExtrapolationWarning, InvalidTokenCountError, ValidationError
from vlmplanner.schemas._base import Schema

from .law import LAW_FORM, optimal_visual_tokens, predict_error

__all__ = ["Prediction", "ScalingFit"]

Array = NDArray[np.float64]
_PARAMS = ("A", "alpha", "beta", "D")
_RANGE_TOL = 1e-9  # relative: a range bound read back from JSON is still inside


@dataclass(frozen=True)
class Prediction:
    """Predicted scores (score units) with a ``level`` interval, shaped like the broadcast inputs.

    ``low``/``high`` come from the bootstrap spread of the predicted error, widened in quadrature by
    the residual rmse (the scatter a new measurement would show); all three are clipped to
    ``[0, scale]``. ``extrapolated`` marks points outside the fitted N or V range.
    """

    n: Array
    v: Array
    score: Array
    low: Array
    high: Array
    extrapolated: NDArray[np.bool_]
    level: float


class ScalingFit(Schema):
    """One fitted ``Y = A·N^-α·V^-β + D`` (N in billions, V visual tokens, Y = 1 - score/scale).

    Round-trips through JSON (``model_dump(mode="json")`` / ``model_validate``); residuals are
    observed minus fitted error; ``loo_by_size`` is keyed by the held-out N as ``format(n, "g")``.
    """

    form: str = LAW_FORM
    label: str = ""
    A: float = Field(ge=0)
    alpha: float = Field(ge=0)
    beta: float = Field(ge=0)
    D: float = Field(ge=0)
    scale: float = Field(
        gt=0, description="the metric's maximum: 1 for fractions, 100 for percentages"
    )
    n_points: int = Field(ge=1)
    sse: float = Field(ge=0)
    rmse: float = Field(ge=0, description="root mean squared residual, error units")
    r2: float
    residuals: list[float]
    n_range: tuple[float, float]
    v_range: tuple[float, float]
    loo_mae_points: float | None = Field(
        default=None, description="leave-one-LLM-size-out mean absolute error, percentage points"
    )
    loo_by_size: dict[str, float] = Field(default_factory=dict)
    bootstrap_params: list[tuple[float, float, float, float]] = Field(
        default_factory=list, description="residual-bootstrap draws of [A, alpha, beta, D]"
    )
    seed: int = 0
    notes: list[str] = Field(default_factory=list)

    def optimal_visual_tokens(self, text_tokens: float) -> float:
        """V* = β·Q/(α - β) for this fit, or inf when β ≥ α (see ``law.optimal_visual_tokens``)."""
        return optimal_visual_tokens(self.alpha, self.beta, text_tokens)

    def predict_error(self, n: ArrayLike, v: ArrayLike) -> Array:
        """Point estimate of the error, unchecked and silent (for loops that already checked)."""
        return predict_error(n, v, A=self.A, alpha=self.alpha, beta=self.beta, D=self.D)

    def predict(self, n: ArrayLike, v: ArrayLike, *, level: float = 0.9) -> Prediction:
        """Predicted scores at every (n, v), broadcast together, with a ``level`` interval.

        Warns once (``ExtrapolationWarning``) if any point lies outside the fitted N or V range:
        the law is an empirical fit and its error bars there are optimistic.
        """
        if not 0 < level < 1:
            raise ValidationError(
                f"level must be between 0 and 1 (exclusive), got {level!r}",
                field="level",
                value=level,
            )
        n_arr, v_arr = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(v, dtype=float))
        _check_positive(n_arr, "n")
        _check_positive(v_arr, "v")
        extrapolated = _outside(n_arr, self.n_range) | _outside(v_arr, self.v_range)
        if extrapolated.any():
            warnings.warn(
                f"{int(extrapolated.sum())} of {extrapolated.size} point(s) lie outside the fitted "
                f"range N {self.n_range[0]:g}-{self.n_range[1]:g} B, "
                f"V {self.v_range[0]:g}-{self.v_range[1]:g} tokens"
                f"{f' ({self.label})' if self.label else ''}; the prediction is an extrapolation",
                ExtrapolationWarning,
                stacklevel=2,
            )
        error = self.predict_error(n_arr, v_arr)
        below, above = self._half_widths(n_arr, v_arr, error, level)
        scale = self.scale
        return Prediction(
            n=n_arr.copy(),
            v=v_arr.copy(),
            score=np.clip(scale * (1.0 - error), 0.0, scale),
            low=np.clip(scale * (1.0 - (error + above)), 0.0, scale),
            high=np.clip(scale * (1.0 - (error - below)), 0.0, scale),
            extrapolated=extrapolated,
            level=level,
        )

    def parameter_interval(self, name: str, *, level: float = 0.9) -> tuple[float, float]:
        """Bootstrap percentile interval of one parameter (``A``, ``alpha``, ``beta`` or ``D``)."""
        if name not in _PARAMS:
            raise ValidationError(
                f"unknown parameter {name!r}; expected one of {_PARAMS}", field="name", value=name
            )
        if not 0 < level < 1:
            raise ValidationError(
                f"level must be between 0 and 1 (exclusive), got {level!r}",
                field="level",
                value=level,
            )
        value = float(getattr(self, name))
        if not self.bootstrap_params:
            return value, value
        draws = np.asarray(self.bootstrap_params, dtype=float)[:, _PARAMS.index(name)]
        low, high = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)])
        return min(float(low), value), max(float(high), value)

    def _half_widths(self, n: Array, v: Array, error: Array, level: float) -> tuple[Array, Array]:
        """How far the error interval reaches below and above the point estimate."""
        noise = NormalDist().inv_cdf(0.5 + level / 2) * self.rmse
        below = np.zeros_like(error)
        above = np.zeros_like(error)
        if self.bootstrap_params:
            draws = np.asarray(self.bootstrap_params, dtype=float)
            extra = (slice(None),) + (None,) * error.ndim  # one row of draws per bootstrap sample
            errors = predict_error(
                n,
                v,
                A=draws[:, 0][extra],
                alpha=draws[:, 1][extra],
                beta=draws[:, 2][extra],
                D=draws[:, 3][extra],
            )
            low, high = np.percentile(errors, [50 * (1 - level), 50 * (1 + level)], axis=0)
            below = np.maximum(error - low, 0.0)
            above = np.maximum(high - error, 0.0)
        return np.sqrt(below**2 + noise**2), np.sqrt(above**2 + noise**2)


def _check_positive(values: Array, name: str) -> None:
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        first = float(values[bad].flat[0])
        error = InvalidTokenCountError if name == "v" else ValidationError
        what = "visual tokens (v)" if name == "v" else "LLM size in billions (n)"
        raise error(f"{what} must be finite and > 0, got {first!r}", field=name, value=first)


def _outside(values: Array, bounds: tuple[float, float]) -> NDArray[np.bool_]:
    low, high = bounds
    return np.asarray((values < low * (1 - _RANGE_TOL)) | (values > high * (1 + _RANGE_TOL)))
