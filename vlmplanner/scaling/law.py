"""The scaling law itself: error as a function of LLM size and visual tokens, and its optimum.

Kept free of scipy so that predicting from a stored fit (the planner's hot path) stays cheap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vlmplanner.errors import InvalidTokenCountError, ValidationError

__all__ = ["LAW_FORM", "optimal_visual_tokens", "predict_error"]

#: The functional form, as written in every fit (N: LLM parameters in billions; V: visual tokens).
LAW_FORM = "Y = A*N^-alpha*V^-beta + D"


def predict_error(
    n: ArrayLike, v: ArrayLike, *, A: ArrayLike, alpha: ArrayLike, beta: ArrayLike, D: ArrayLike
) -> NDArray[np.float64]:
    """``Y = A·N^-α·V^-β + D``, broadcast over every argument (error units, not score units).

    Computed as ``A·exp(-α·ln N - β·ln V) + D`` so that large token counts and small exponents do
    not lose precision. N and V must be positive; they are not checked here (callers validate once).
    """
    n_arr = np.asarray(n, dtype=float)
    v_arr = np.asarray(v, dtype=float)
    return _law(np.log(n_arr), np.log(v_arr), A, alpha, beta, D)


def _law(log_n: Any, log_v: Any, A: Any, alpha: Any, beta: Any, D: Any) -> NDArray[np.float64]:
    """The law on log inputs, shared by the fitter (which precomputes the logs) and prediction."""
    return np.asarray(A * np.exp(-alpha * log_n - beta * log_v) + D, dtype=float)


def optimal_visual_tokens(alpha: float, beta: float, text_tokens: float) -> float:
    """The visual-token count that minimises error at a fixed inference budget.

    Why this formula: prefill cost is ``C ∝ N·(Q + V)`` (Q text tokens, V visual tokens). At
    fixed C, ``N = C / (k·(Q + V))``, so ``Y - D ∝ (Q + V)^α · V^-β``. Setting ``d ln(Y - D)/dV =
    α/(Q + V) - β/V`` to zero gives ``V* = β·Q / (α - β)``, a minimum when α > β. When β ≥ α
    the derivative is never positive: more tokens always pay for the smaller LLM they force, so the
    answer is "as many tokens as possible" and this returns ``math.inf``.

    With Q = 0 the optimum is 0, i.e. the fewest tokens on offer (one, in the paper); callers choose
    from a discrete menu, so they clamp to it.
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not math.isfinite(value) or value < 0:
            raise ValidationError(
                f"{name} must be a finite number >= 0, got {value!r}", field=name, value=value
            )
    if not math.isfinite(text_tokens) or text_tokens < 0:
        raise InvalidTokenCountError(
            f"text_tokens must be a finite number >= 0, got {text_tokens!r}",
            field="text_tokens",
            value=text_tokens,
        )
    if beta >= alpha:
        return math.inf
    return beta * text_tokens / (alpha - beta)
