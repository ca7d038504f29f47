"""The shipped grids of arXiv 2411.03312: the paper's exponents and its two conclusions."""

from __future__ import annotations

import math

import pytest

from vlmplanner.scaling import ScalingFit


def test_reasoning_exponents_match_the_paper(reasoning_fit: ScalingFit) -> None:
    # Paper legend: alpha 0.077, beta 0.015 (20 % random grid search); full grid 0.0747/0.0162.
    assert reasoning_fit.n_points == 28
    assert reasoning_fit.alpha == pytest.approx(0.077, abs=0.01)
    assert reasoning_fit.beta == pytest.approx(0.015, abs=0.01)
    assert reasoning_fit.alpha > 4 * reasoning_fit.beta  # "5x more sensitive to LLM size"
    assert reasoning_fit.r2 > 0.98


def test_reasoning_optimum_is_about_twelve_tokens_at_q50(reasoning_fit: ScalingFit) -> None:
    assert 10 <= reasoning_fit.optimal_visual_tokens(50) <= 14
    assert reasoning_fit.optimal_visual_tokens(0) == 0.0


def test_reasoning_held_out_size_error_is_under_one_point(reasoning_fit: ScalingFit) -> None:
    assert reasoning_fit.loo_mae_points is not None
    assert reasoning_fit.loo_mae_points <= 1.0
    assert set(reasoning_fit.loo_by_size) == {"0.5", "1.8", "4", "7"}


def test_ocr_flips_the_conclusion(ocr_fit: ScalingFit) -> None:
    assert ocr_fit.beta > ocr_fit.alpha
    assert ocr_fit.optimal_visual_tokens(50) == math.inf
    assert ocr_fit.optimal_visual_tokens(0) == math.inf


def test_fit_reports_ranges_and_residuals(reasoning_fit: ScalingFit) -> None:
    assert reasoning_fit.n_range == (0.5, 7.0)
    assert reasoning_fit.v_range == (1.0, 576.0)
    assert len(reasoning_fit.residuals) == 28
    assert reasoning_fit.sse == pytest.approx(sum(r * r for r in reasoning_fit.residuals))
    assert reasoning_fit.rmse == pytest.approx(math.sqrt(reasoning_fit.sse / 28))
    assert len(reasoning_fit.bootstrap_params) == 200
    low, high = reasoning_fit.parameter_interval("alpha")
    assert low <= reasoning_fit.alpha <= high
