"""The planner's Python API refuses bad input as the CLI does, and its reasons name the limit that binds."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

from vlmplanner.errors import (
    InvalidBudgetError,
    UnknownHardwareError,
    ValidationError,
    VlmPlannerError,
)
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Workload


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"task": None}, "task"),
    ({"task": 7}, "task"),
    ({"task": ["GQA"]}, "task"),
    ({"budget": 1000}, "budget"),
    ({"budget": 1000.0}, "budget"),
    ({"budget": None}, "budget"),
    ({"budget": [1000]}, "budget"),
    ({"budget": "1000"}, "budget"),
    ({"budget": {"gflop": 1000}}, "gflop"),
    ({"budget": {"gflops": "1000"}}, "gflops"),
    ({"budget": {"gflops": True}}, "gflops"),
    ({"workload": 50}, "workload"),
    ({"workload": {"text_tokens": True}}, "text_tokens"),
    ({"workload": {"text_tokens": 50.0}}, "text_tokens"),
    ({"workload": {"text_tokens": "50"}}, "text_tokens"),
    ({"workload": {"text_token": 50}}, "text_token"),
    ({"workload": {"batch_size": 0}}, "batch_size"),
    ({"family": 3}, "family"),
    ({"model": b"llava"}, "model"),
    ({"compressor": 1.5}, "compressor"),
    ({"training": "sometimes"}, "training"),
    ({"accounting": "approximate"}, "accounting"),
    ({"accounting": 1}, "accounting"),
    ({"objective": "speed"}, "objective"),
])
def test_recommend_names_the_bad_field(planner: Planner, kwargs: dict[str, Any], field: str) -> None:
    call = {"task": "visual-reasoning", "budget": Budget(gflops=1000)} | kwargs
    with pytest.raises(ValidationError) as caught:
        planner.recommend(**call)
    assert caught.value.field == field, caught.value.message
    assert type(caught.value).__module__ == "vlmplanner.errors"


def test_a_bare_number_says_how_to_write_a_budget(planner: Planner) -> None:
    with pytest.raises(InvalidBudgetError, match=r"Budget\(gflops=1000\)"):
        planner.recommend(task="GQA", budget=1000)


def test_a_budget_can_be_text_with_its_unit(planner: Planner) -> None:
    by_text = planner.recommend(task="visual-reasoning", budget="3000 GFLOPs")
    assert by_text.candidate == planner.recommend(task="visual-reasoning", budget=Budget(gflops=3000)).candidate


def test_unknown_keyword_is_a_type_error_of_python(planner: Planner) -> None:
    """recommend() takes keywords only; a misspelt one is Python's own TypeError, by design."""
    with pytest.raises(TypeError):
        planner.recommend(task="GQA", budget=Budget(gflops=1), budgett=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"dtype": "bf17"}, ValidationError, "dtype"),
    ({"dtype": None}, ValidationError, "dtype"),
    ({"hardware": 100}, ValidationError, "hardware"),
    ({"hardware": "h999"}, UnknownHardwareError, "hardware"),
    ({"accounting": "cheap"}, ValidationError, "accounting"),
])
def test_planner_arguments(planner_url: str, kwargs: dict[str, Any], error: type[VlmPlannerError],
                           field: str) -> None:
    with pytest.raises(error) as caught:
        Planner(planner_url, **kwargs)
    assert caught.value.field == field


def test_a_catalog_that_is_not_a_url(planner_url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Planner(42)  # type: ignore[arg-type]
    assert caught.value.field == "catalog"


def test_dtype_aliases_are_the_cost_models(planner_url: str) -> None:
    with Planner(planner_url, dtype="bfloat16") as planner:
        assert planner.dtype == "bf16"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"task": None}, "task"),
    ({"cost_axis": "joules"}, "cost_axis"),
    ({"workload": "Q=50"}, "workload"),
    ({"accounting": "both"}, "accounting"),
])
def test_frontier_names_the_bad_field(planner: Planner, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.frontier(**({"task": "visual-reasoning"} | kwargs))
    assert caught.value.field == field


def test_schemas_raise_vlmplanner_errors_not_pydantic() -> None:
    for make in (lambda: Budget(gflops="abc"), lambda: Workload(images_per_request=False),
                 lambda: Workload.model_validate([1, 2]), lambda: Workload(image_size=(0, 10))):
        with pytest.raises(ValidationError):
            make()


def _sentences(reason: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.) ", reason) if "over the" in s]


@pytest.mark.parametrize(("budget", "names"), [
    (Budget(latency_ms=30), ("ms end-to-end", "latency budget")),
    (Budget(latency_ms=30, latency_kind="prefill"), ("ms prefill", "latency budget")),
    (Budget(memory_gb=20), ("GB of memory", "memory budget")),
    (Budget(usd_per_1k_requests=0.05), ("per 1k requests", "$0.05 budget")),
])
def test_reasons_name_the_limit_that_binds(planner: Planner, budget: Budget, names: tuple[str, ...]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = planner.recommend(task="visual-reasoning", budget=budget, workload=Workload(output_tokens=16),
                                compressor="tokenpacker", include="all")  # the paper's grid
    over = _sentences(rec.reason)
    assert over, rec.reason
    for sentence in over:
        assert all(name in sentence for name in names), sentence
        assert "GFLOPs" not in sentence, sentence  # FLOPs did not bind: no budget on them was set


def test_the_named_number_is_the_candidates_own(planner: Planner) -> None:
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import Candidate

    rec = planner.recommend(task="visual-reasoning", budget=Budget(memory_gb=20), include="all")
    (sentence,) = _sentences(rec.reason)
    key = re.search(r"the cheapest, (\S+),", sentence)
    needed = re.search(r"needs ([0-9.,]+) GB", sentence)
    assert key is not None and needed is not None
    candidate = Candidate.parse(key.group(1))
    detail = breakdown(planner.catalog.model(candidate.model), planner.catalog.compressor(candidate.compressor),
                       candidate.visual_tokens, rec.workload, hardware=planner.hardware, dtype=planner.dtype)
    assert detail.memory_bytes["total"] / 1e9 == pytest.approx(float(needed.group(1).replace(",", "")), rel=1e-3)
    assert float(needed.group(1)) > 20
