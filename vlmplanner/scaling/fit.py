"""Fit the law to measured scores: validation, bounded multi-start fit, leave-one-size-out check,
and a residual bootstrap whose draws the fit keeps for prediction intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from vlmplanner.errors import FitError, InsufficientDataError

from ._solve import A_MAX, EXPONENT_MAX, solve
from .law import _law
from .result import ScalingFit

__all__ = ["MIN_POINTS", "fit_scaling_law"]

#: Four parameters need at least one spare point.
MIN_POINTS = 5

Array = NDArray[np.float64]


def fit_scaling_law(
    n: Sequence[float],
    v: Sequence[float],
    score: Sequence[float],
    *,
    scale: float = 1.0,
    bootstrap: int = 200,
    seed: int = 0,
    label: str = "",
) -> ScalingFit:
    """Fit ``Y = A·N^-α·V^-β + D`` to scores at LLM sizes ``n`` (billions) and visual tokens ``v``.

    ``score`` is in the metric's units with maximum ``scale`` (1 for fractions, 100 for
    percentages); the fit works on the error ``1 - score/scale``. Deterministic: the same inputs and
    ``seed`` give the same numbers. Raises ``InsufficientDataError`` for too few points, sizes or
    token counts, and ``FitError`` for values that cannot be fitted.
    """
    n_arr, v_arr, y = _validated(n, v, score, scale)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise FitError(
            f"bootstrap must be an integer >= 0, got {bootstrap!r}",
            field="bootstrap",
            value=bootstrap,
        )
    log_n, log_v = np.log(n_arr), np.log(v_arr)
    best = solve(log_n, log_v, y)
    A, alpha, beta, D = (float(p) for p in best.params)
    fitted = _law(log_n, log_v, A, alpha, beta, D)
    residuals = y - fitted
    sse = float(np.sum(residuals**2))
    notes = _bound_notes(best.params, float(np.min(y)))
    ss_total = float(np.sum((y - np.mean(y)) ** 2))
    if ss_total > 0:
        r2 = 1.0 - sse / ss_total
    else:
        r2 = 0.0
        notes.append("every error is the same, so r2 is undefined; reported as 0")
    loo_by_size, loo_mae, loo_notes = _leave_one_size_out(n_arr, log_n, log_v, y)
    draws, boot_notes = _bootstrap(log_n, log_v, fitted, residuals, best.params, bootstrap, seed)
    return ScalingFit(
        label=label,
        A=A,
        alpha=alpha,
        beta=beta,
        D=D,
        scale=float(scale),
        n_points=int(y.size),
        sse=sse,
        rmse=math.sqrt(sse / y.size),
        r2=r2,
        residuals=[float(r) for r in residuals],
        n_range=(float(n_arr.min()), float(n_arr.max())),
        v_range=(float(v_arr.min()), float(v_arr.max())),
        loo_mae_points=loo_mae,
        loo_by_size=loo_by_size,
        bootstrap_params=draws,
        seed=seed,
        notes=notes + loo_notes + boot_notes,
    )


def _validated(
    n: Sequence[float], v: Sequence[float], score: Sequence[float], scale: float
) -> tuple[Array, Array, Array]:
    """Inputs as float arrays and the error ``1 - score/scale``, or an error naming the fault."""
    if (
        not isinstance(scale, (int, float))
        or isinstance(scale, bool)
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise FitError(
            f"scale must be a finite number > 0, got {scale!r}", field="scale", value=scale
        )
    arrays: dict[str, Array] = {}
    for name, values in (("n", n), ("v", v), ("score", score)):
        try:
            array = np.asarray(list(values), dtype=float)
        except (TypeError, ValueError) as exc:
            raise FitError(
                f"{name} must be a sequence of numbers ({exc})", field=name, value=values
            ) from exc
        if array.ndim != 1:
            raise FitError(f"{name} must be one-dimensional, got shape {array.shape}", field=name)
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            i = int(bad[0])
            raise FitError(
                f"{name}[{i}] is not a finite number: {array[i]!r}",
                field=name,
                value=float(array[i]),
            )
        arrays[name] = array
    lengths = {name: a.size for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise FitError(f"n, v and score must have the same length, got {lengths}", field="n")
    for name, what in (("n", "LLM size in billions"), ("v", "visual token count")):
        bad = np.flatnonzero(arrays[name] <= 0)
        if bad.size:
            i = int(bad[0])
            value = float(arrays[name][i])
            raise FitError(
                f"{name}[{i}] = {value!r}: a {what} must be > 0", field=name, value=value
            )
    s = arrays["score"]
    bad = np.flatnonzero((s < 0) | (s > scale))
    if bad.size:
        i = int(bad[0])
        raise FitError(
            f"score[{i}] = {float(s[i])!r} is outside [0, {scale:g}] "
            "(is scale right? 1 for fractions, 100 for percentages)",
            field="score",
            value=float(s[i]),
        )
    _check_enough(arrays["n"], arrays["v"])
    return arrays["n"], arrays["v"], 1.0 - s / scale


def _check_enough(n: Array, v: Array) -> None:
    reason = _why_not_enough(n, v)
    if reason:
        raise InsufficientDataError(
            f"cannot fit the scaling law: {reason}", field=reason.split()[-1].strip("()")
        )


def _why_not_enough(n: Array, v: Array) -> str:
    """Empty when four parameters can be fitted; otherwise why not (ends in the field at fault)."""
    if n.size < MIN_POINTS:
        return f"{n.size} point(s), need at least {MIN_POINTS} (score)"
    if np.unique(n).size < 2:
        return f"only one distinct LLM size ({n[0]:g} B), need at least 2 (n)"
    if np.unique(v).size < 2:
        return f"only one distinct visual token count ({v[0]:g}), need at least 2 (v)"
    return ""


def _bound_notes(params: Array, min_error: float) -> list[str]:
    """Say when the optimum sits on a bound: that parameter is set by the bound, not the data."""
    A, alpha, beta, D = (float(p) for p in params)
    notes = []
    if D <= 1e-9:
        notes.append(
            "D is at its lower bound 0: the data do not pin down an irreducible error, so the "
            "law acts as a pure power law over the fitted range"
        )
    elif min_error - 1e-9 <= D:
        notes.append(f"D is at its upper bound, the smallest observed error ({min_error:.4g})")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if value <= 1e-9:
            notes.append(f"{name} is at its lower bound 0: no measurable effect in this data")
        elif value >= EXPONENT_MAX - 1e-9:
            notes.append(f"{name} is at its upper bound {EXPONENT_MAX:g}")
    if A >= A_MAX - 1e-9:
        notes.append(f"A is at its upper bound {A_MAX:g}")
    return notes


def _leave_one_size_out(
    n: Array, log_n: Array, log_v: Array, y: Array
) -> tuple[dict[str, float], float | None, list[str]]:
    """Refit without each LLM size and score its points, as the paper checks a held-out 14B.

    Returns per-size and pooled mean absolute error in percentage points (|Δerror| × 100).
    """
    sizes = np.unique(n)
    if sizes.size < 3:
        note = (
            f"leave-one-size-out skipped: {sizes.size} distinct LLM sizes leave a single size "
            "to fit from, which cannot separate N from the rest (need at least 3)"
        )
        return {}, None, [note]
    by_size: dict[str, float] = {}
    pooled: list[Array] = []
    notes: list[str] = []
    for size in sizes:
        held = n == size
        reason = _why_not_enough(n[~held], np.exp(log_v[~held]))
        if reason:
            notes.append(f"leave-one-size-out: cannot hold out N={size:g} B ({reason})")
            continue
        part = solve(log_n[~held], log_v[~held], y[~held])
        predicted = _law(log_n[held], log_v[held], *part.params)
        miss = np.abs(predicted - y[held]) * 100.0
        by_size[format(float(size), "g")] = float(np.mean(miss))
        pooled.append(miss)
    if not pooled:
        return {}, None, notes
    return by_size, float(np.mean(np.concatenate(pooled))), notes


def _bootstrap(
    log_n: Array,
    log_v: Array,
    fitted: Array,
    residuals: Array,
    params: Array,
    draws: int,
    seed: int,
) -> tuple[list[tuple[float, float, float, float]], list[str]]:
    """Residual bootstrap: refit on ``fitted + resampled residuals``, warm-started at the estimate.

    Residuals are centred and inflated by sqrt(n / (n - 4)) because least-squares residuals are
    smaller than the true noise by the four fitted degrees of freedom.
    """
    if draws == 0:
        return [], ["no bootstrap (bootstrap=0): intervals reflect the residual rmse only"]
    rng = np.random.default_rng(seed)
    size = residuals.size
    pool = (residuals - residuals.mean()) * math.sqrt(size / (size - 4))
    out: list[tuple[float, float, float, float]] = []
    failed = 0
    for _ in range(draws):
        sample = fitted + rng.choice(pool, size=size, replace=True)
        try:
            part = solve(log_n, log_v, sample, starts=[params])
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        A, alpha, beta, D = (float(p) for p in part.params)
        out.append((A, alpha, beta, D))
    notes = [f"{failed} of {draws} bootstrap refits failed and were dropped"] if failed else []
    return out, notes
