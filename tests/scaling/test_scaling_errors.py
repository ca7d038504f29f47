"""Inputs the fitter refuses, each with an error that names what is wrong."""

from __future__ import annotations

import pytest

from vlmplanner.errors import FitError, InsufficientDataError, VlmPlannerError
from vlmplanner.scaling import fit_scaling_law

N = [0.5, 0.5, 1.8, 1.8, 4.0, 4.0]
V = [1.0, 64.0, 1.0, 64.0, 1.0, 64.0]
S = [0.38, 0.41, 0.43, 0.46, 0.46, 0.50]


def test_errors_are_vlmplanner_errors() -> None:
    assert issubclass(InsufficientDataError, FitError)
    assert issubclass(FitError, VlmPlannerError)


def test_too_few_points() -> None:
    with pytest.raises(InsufficientDataError, match="4 point"):
        fit_scaling_law(N[:4], V[:4], S[:4])


def test_one_llm_size_only() -> None:
    with pytest.raises(InsufficientDataError, match="one distinct LLM size") as info:
        fit_scaling_law([7.0] * 6, V, S)
    assert info.value.field == "n"


def test_one_token_count_only() -> None:
    with pytest.raises(InsufficientDataError, match="one distinct visual token count") as info:
        fit_scaling_law(N, [64.0] * 6, S)
    assert info.value.field == "v"


@pytest.mark.parametrize(
    ("field", "n", "v", "score", "message"),
    [
        ("n", [*N[:-1], float("nan")], V, S, r"n\[5\] is not a finite number"),
        ("v", N, [*V[:-1], float("inf")], S, r"v\[5\] is not a finite number"),
        ("n", [0.0, *N[1:]], V, S, r"n\[0\] = 0.0.*> 0"),
        ("v", N, [-4.0, *V[1:]], S, r"v\[0\] = -4.0.*> 0"),
        ("score", N, V, [*S[:-1], 1.2], r"score\[5\] = 1.2 is outside \[0, 1\]"),
        ("score", N, V, [-0.1, *S[1:]], r"outside \[0, 1\]"),
        ("n", N[:-1], V, S, "same length"),
    ],
)
def test_bad_values(
    field: str, n: list[float], v: list[float], score: list[float], message: str
) -> None:
    with pytest.raises(FitError, match=message) as info:
        fit_scaling_law(n, v, score, bootstrap=0)
    assert info.value.field == field
    assert not isinstance(info.value, InsufficientDataError)


def test_percent_scores_need_scale_100() -> None:
    with pytest.raises(FitError, match="is scale right"):
        fit_scaling_law(N, V, [100 * s for s in S])
    fit_scaling_law(N, V, [100 * s for s in S], scale=100, bootstrap=0)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"scale": 0.0}, "scale"), ({"bootstrap": -1}, "bootstrap")]
)
def test_bad_options(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(FitError) as info:
        fit_scaling_law(N, V, S, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_perfect_score_pins_d_to_zero() -> None:
    fit = fit_scaling_law(N, V, [*S[:-1], 1.0], bootstrap=0)
    assert fit.D == 0.0
