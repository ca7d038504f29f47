"""Predictions from a fit: intervals, extrapolation warnings, and a JSON round trip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vlmplanner.errors import ExtrapolationWarning, InvalidTokenCountError, ValidationError
from vlmplanner.scaling import Prediction, ScalingFit


def test_inside_the_range_does_not_warn(reasoning_fit: ScalingFit) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prediction = reasoning_fit.predict([0.5, 7.0, 4.0], [576, 1, 36])  # exact bounds are inside
    assert isinstance(prediction, Prediction)
    assert not prediction.extrapolated.any()


def test_predictions_are_close_to_the_data(
    reasoning_fit: ScalingFit, reasoning_grid: tuple[list[float], ...]
) -> None:
    n, v, score = reasoning_grid
    prediction = reasoning_fit.predict(n, v)
    assert np.max(np.abs(prediction.score - np.array(score))) < 0.01  # within one point everywhere
    covered = (prediction.low <= np.array(score)) & (np.array(score) <= prediction.high)
    assert covered.mean() >= 0.8  # a 90 % prediction interval covers most measurements


def test_outside_the_range_warns_once(reasoning_fit: ScalingFit) -> None:
    with pytest.warns(ExtrapolationWarning, match="outside the fitted range") as record:
        prediction = reasoning_fit.predict([14.0, 72.0, 7.0], [1, 1, 2880])
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller, not at vlmplanner
    assert prediction.extrapolated.tolist() == [True, True, True]


def test_intervals_contain_the_estimate_and_widen_outside_the_data(
    reasoning_fit: ScalingFit,
) -> None:
    inside = reasoning_fit.predict(4.0, 16)
    with pytest.warns(ExtrapolationWarning):
        outside = reasoning_fit.predict(np.array([14.0, 72.0]), 16)
    for p in (inside, outside):
        assert np.all(p.low <= p.score) and np.all(p.score <= p.high)
    widths = [float(inside.high - inside.low), *(outside.high - outside.low).tolist()]
    assert widths[0] < widths[1] < widths[2]


def test_wider_level_gives_wider_interval(reasoning_fit: ScalingFit) -> None:
    narrow = reasoning_fit.predict(4.0, 16, level=0.5)
    wide = reasoning_fit.predict(4.0, 16, level=0.99)
    assert float(wide.high - wide.low) > float(narrow.high - narrow.low) > 0
    assert float(narrow.score) == float(wide.score)


def test_shapes_broadcast(reasoning_fit: ScalingFit) -> None:
    prediction = reasoning_fit.predict(np.array([[0.5], [1.8], [4.0]]), np.array([1, 16, 144, 576]))
    assert prediction.score.shape == prediction.low.shape == prediction.extrapolated.shape == (3, 4)
    assert prediction.score.ndim == 2
    scalar = reasoning_fit.predict(7.0, 1)
    assert scalar.score.shape == ()
    assert float(scalar.score) == pytest.approx(0.4810, abs=0.01)


def test_bad_prediction_inputs(reasoning_fit: ScalingFit) -> None:
    with pytest.raises(InvalidTokenCountError):
        reasoning_fit.predict(7.0, 0)
    with pytest.raises(ValidationError, match="LLM size"):
        reasoning_fit.predict(-1.0, 16)
    with pytest.raises(ValidationError, match="level"):
        reasoning_fit.predict(7.0, 16, level=1.5)


def test_json_round_trip(reasoning_fit: ScalingFit) -> None:
    import json

    data = json.loads(json.dumps(reasoning_fit.model_dump(mode="json")))
    again = ScalingFit.model_validate(data)
    assert again == reasoning_fit
    assert again.form == "Y = A*N^-alpha*V^-beta + D"
    assert again.label == "visual reasoning"
    before = reasoning_fit.predict([1.8, 4.0], [16, 144])
    after = again.predict([1.8, 4.0], [16, 144])
    assert np.array_equal(before.low, after.low) and np.array_equal(before.high, after.high)


def test_fit_is_frozen(reasoning_fit: ScalingFit) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        reasoning_fit.alpha = 0.5  # type: ignore[misc]
