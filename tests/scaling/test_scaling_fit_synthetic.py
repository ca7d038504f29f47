"""The fitter on data made from known parameters: recovery, determinism, units."""

from __future__ import annotations

import numpy as np
import pytest

from vlmplanner.scaling import fit_scaling_law, predict_error

TRUE = {"A": 0.6, "alpha": 0.08, "beta": 0.02, "D": 0.05}
SIZES = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
TOKENS = [1.0, 4.0, 16.0, 64.0, 256.0, 576.0]


def synthetic(noise: float = 1e-3, **params: float) -> tuple[list[float], list[float], list[float]]:
    """A full N × V grid; the noise is a fixed sine pattern, so the data never change."""
    n, v = (a.ravel() for a in np.meshgrid(SIZES, TOKENS, indexing="ij"))
    error = predict_error(n, v, **{**TRUE, **params})
    error = error + noise * np.sin(1.7 * np.arange(n.size))
    return n.tolist(), v.tolist(), (1.0 - error).tolist()


def test_recovers_exact_parameters_without_noise() -> None:
    fit = fit_scaling_law(*synthetic(noise=0.0), bootstrap=0)
    for name, value in TRUE.items():
        assert getattr(fit, name) == pytest.approx(value, abs=1e-6)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.loo_mae_points == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("params", [{}, {"A": 0.8, "alpha": 0.03, "beta": 0.05, "D": 0.1}])
def test_recovers_exponents_under_small_noise(params: dict[str, float]) -> None:
    fit = fit_scaling_law(*synthetic(**params), bootstrap=0)
    truth = {**TRUE, **params}
    assert fit.alpha == pytest.approx(truth["alpha"], abs=0.003)
    assert fit.beta == pytest.approx(truth["beta"], abs=0.003)
    assert fit.rmse < 2e-3
    assert fit.loo_mae_points is not None and fit.loo_mae_points < 0.3
    assert set(fit.loo_by_size) == {format(s, "g") for s in SIZES}


def test_two_fits_are_identical() -> None:
    data = synthetic()
    first = fit_scaling_law(*data, bootstrap=30, seed=7)
    second = fit_scaling_law(*data, bootstrap=30, seed=7)
    assert first.model_dump() == second.model_dump()
    assert fit_scaling_law(*data, bootstrap=30, seed=8).bootstrap_params != first.bootstrap_params


def test_percent_scores_give_the_same_law() -> None:
    n, v, score = synthetic()
    fraction = fit_scaling_law(n, v, score, bootstrap=0)
    percent = fit_scaling_law(n, v, [100 * s for s in score], scale=100, bootstrap=0)
    assert percent.alpha == pytest.approx(fraction.alpha, rel=1e-6)
    assert percent.beta == pytest.approx(fraction.beta, rel=1e-6)
    assert percent.loo_mae_points == pytest.approx(fraction.loo_mae_points, rel=1e-6)
    point = percent.predict(4.0, 64.0)
    assert float(point.score) == pytest.approx(
        100 * float(fraction.predict(4.0, 64.0).score), rel=1e-6
    )


def test_leave_one_size_out_needs_three_sizes() -> None:
    n, v, score = synthetic()
    keep = [i for i, size in enumerate(n) if size in (1.0, 8.0)]
    fit = fit_scaling_law(
        [n[i] for i in keep], [v[i] for i in keep], [score[i] for i in keep], bootstrap=0
    )
    assert fit.loo_mae_points is None
    assert fit.loo_by_size == {}
    assert any("leave-one-size-out skipped" in note for note in fit.notes)
