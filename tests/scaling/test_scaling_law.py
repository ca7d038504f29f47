"""The raw law and the inference-optimal token count."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.scaling import optimal_visual_tokens, predict_error


def test_predict_error_matches_the_formula_and_broadcasts() -> None:
    n = np.array([[0.5], [7.0]])
    v = np.array([1.0, 64.0, 576.0])
    got = predict_error(n, v, A=0.6, alpha=0.08, beta=0.02, D=0.05)
    assert got.shape == (2, 3)
    assert got[1, 2] == pytest.approx(0.6 * 7.0**-0.08 * 576.0**-0.02 + 0.05, rel=1e-12)
    assert float(predict_error(1.0, 1.0, A=0.3, alpha=0.5, beta=0.5, D=0.1)) == pytest.approx(0.4)


def test_optimal_tokens_is_beta_q_over_alpha_minus_beta() -> None:
    assert optimal_visual_tokens(0.077, 0.015, 50) == pytest.approx(0.015 * 50 / 0.062)
    assert 10 < optimal_visual_tokens(0.077, 0.015, 50) < 14  # the paper's "≈ 12 at Q = 50"
    assert optimal_visual_tokens(0.077, 0.015, 0) == 0.0  # text cached: as few tokens as possible


def test_optimal_tokens_is_a_numerical_minimum() -> None:
    alpha, beta, q = 0.077, 0.015, 50.0
    v = np.linspace(1, 200, 200_001)
    cost_fixed_error = (q + v) ** alpha * v**-beta  # Y - D at fixed budget, up to a constant
    assert v[np.argmin(cost_fixed_error)] == pytest.approx(
        optimal_visual_tokens(alpha, beta, q), abs=1e-3
    )


@pytest.mark.parametrize(("alpha", "beta"), [(0.029, 0.048), (0.03, 0.03), (0.0, 0.0)])
def test_optimal_tokens_is_infinite_when_tokens_matter_as_much_as_size(
    alpha: float, beta: float
) -> None:
    assert optimal_visual_tokens(alpha, beta, 50) == math.inf


def test_optimal_tokens_rejects_bad_input() -> None:
    with pytest.raises(InvalidTokenCountError):
        optimal_visual_tokens(0.077, 0.015, -1)
    with pytest.raises(ValidationError, match="alpha"):
        optimal_visual_tokens(float("nan"), 0.015, 50)
    with pytest.raises(ValidationError, match="beta"):
        optimal_visual_tokens(0.077, -0.1, 50)
