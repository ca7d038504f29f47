"""Bounded multi-start least squares for the law, on error-space arrays that are already valid.

Why bounded: the reasoning surface is almost log-linear, so unbounded least squares slides to
α, β → 0 with D → -∞ (the reference notes saw D ≈ -116). D ∈ [0, min observed error] keeps the
irreducible error meaningful; α, β ∈ [0, 1] and A ∈ [0, 10] bracket every plausible benchmark.
Why multi-start: a fixed, small set of starting points makes the result deterministic and keeps the
optimiser out of the shallow local minima along the A–D ridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .law import _law

__all__ = ["A_MAX", "EXPONENT_MAX", "Solution", "solve"]

A_MAX = 10.0
EXPONENT_MAX = 1.0
_TOL = 1e-10
# Fractions of the D upper bound (min observed error) that seed the starts, and fixed (α, β) seeds.
_D_FRACTIONS = (0.0, 0.5, 0.9)
_EXPONENT_SEEDS = ((0.3, 0.05), (0.05, 0.3))

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Solution:
    """Best parameters ``[A, alpha, beta, D]`` and their sum of squared residuals."""

    params: Array
    sse: float


def bounds(y: Array) -> tuple[Array, Array]:
    """Lower and upper bounds of ``[A, alpha, beta, D]`` for errors ``y``."""
    d_max = max(float(np.min(y)), 0.0)
    return np.zeros(4), np.array([A_MAX, EXPONENT_MAX, EXPONENT_MAX, d_max])


def solve(log_n: Array, log_v: Array, y: Array, starts: list[Array] | None = None) -> Solution:
    """Fit ``[A, alpha, beta, D]`` to errors ``y``; the best of several bounded local fits.

    ``starts`` replaces the default seeds (the bootstrap warm-starts from the point estimate).
    When the smallest error is 0, D is pinned to 0 (its bounds would be empty otherwise).
    """
    # scipy only when fitting: predicting from a stored fit needs numpy alone
    from scipy.optimize import least_squares  # type: ignore[import-untyped, unused-ignore]

    lower, upper = bounds(y)
    free = slice(0, 4) if upper[3] > 0 else slice(0, 3)
    lo, hi = lower[free], upper[free]

    def full(p: Array) -> Array:
        return p if free.stop == 4 else np.append(p, 0.0)

    def residuals(p: Array) -> Array:
        A, alpha, beta, D = full(p)
        return _law(log_n, log_v, A, alpha, beta, D) - y

    def jacobian(p: Array) -> Array:
        A, alpha, beta, _ = full(p)
        term = np.exp(-alpha * log_n - beta * log_v)
        columns = [term, -log_n * A * term, -log_v * A * term, np.ones_like(term)]
        return np.column_stack(columns[free])

    best: Solution | None = None
    for start in starts if starts is not None else default_starts(log_n, log_v, y, upper[3]):
        x0 = np.clip(np.asarray(start, dtype=float)[free], lo, hi)
        result: Any = least_squares(
            residuals,
            x0,
            jac=jacobian,
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            ftol=_TOL,
            xtol=_TOL,
            gtol=_TOL,
            max_nfev=2000,
        )
        sse = float(np.sum(result.fun**2))
        if best is None or sse < best.sse:
            best = Solution(params=full(np.asarray(result.x, dtype=float)), sse=sse)
    assert best is not None  # there is always at least one start
    return best


def default_starts(log_n: Array, log_v: Array, y: Array, d_max: float) -> list[Array]:
    """Seeds: for each trial D, a log-linear regression guess plus a few fixed exponent pairs."""
    starts: list[Array] = []
    for fraction in _D_FRACTIONS:
        D = fraction * d_max
        excess = np.log(np.maximum(y - D, 1e-12))
        design = np.column_stack([np.ones_like(log_n), -log_n, -log_v])
        (log_a, alpha, beta), *_ = np.linalg.lstsq(design, excess, rcond=None)
        starts.append(_start(alpha, beta, D, log_n, log_v, excess, log_a))
        for alpha, beta in _EXPONENT_SEEDS:
            starts.append(_start(alpha, beta, D, log_n, log_v, excess))
    return starts


def _start(
    alpha: float,
    beta: float,
    D: float,
    log_n: Array,
    log_v: Array,
    excess: Array,
    log_a: float | None = None,
) -> Array:
    """One seed; A makes the law pass through the data's (log) centre for these exponents."""
    alpha = float(np.clip(alpha, 0.001, EXPONENT_MAX * 0.99))
    beta = float(np.clip(beta, 0.001, EXPONENT_MAX * 0.99))
    if log_a is None:
        log_a = float(np.mean(excess + alpha * log_n + beta * log_v))
    A = float(np.clip(np.exp(min(log_a, 10.0)), 1e-6, A_MAX * 0.99))
    return np.array([A, alpha, beta, D])
