"""recommend(): budgets, tasks, filters, the frontier, and bad input."""

from __future__ import annotations

import math
import warnings

import pytest

from vlmplanner.errors import (
    InvalidBudgetError,
    InvalidHardwareError,
    NoFeasibleCandidateError,
    UnknownHardwareError,
    UnknownModelError,
    UnknownTaskError,
    ValidationError,
)
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Hardware, Workload


def test_full_accounting_costs_more_than_the_paper(planner: Planner) -> None:
    kwargs = {"task": "visual-reasoning", "budget": Budget(gflops=1000), "workload": Workload(text_tokens=50),
                  "family": "llava_next", "compressor": "tokenpacker", "include": "all"}
    paper = planner.recommend(**kwargs, accounting="paper")  # type: ignore[arg-type]
    full = planner.recommend(**kwargs, accounting="full")  # type: ignore[arg-type]
    assert full.cost.flops <= 1000e9 and full.cost.flops_by_component["vision_tower"] > 0
    # counting the vision encoder leaves less budget for the LLM: never a larger model than the paper's pick
    assert full.model.llm.params_b <= paper.model.llm.params_b


def test_quality_never_mixes_benchmarks(planner: Planner) -> None:
    rec = planner.recommend(task="GQA", budget=Budget(gflops=20000), workload=Workload(text_tokens=50))
    assert rec.quality.metric == "accuracy (%)"
    for runner in rec.runners_up:
        assert runner.quality.metric == "accuracy (%)"
    assert all(r.quality.score <= rec.quality.score for r in rec.runners_up)


def test_mix_requires_every_benchmark(planner: Planner) -> None:
    rec = planner.recommend(task="GQA:1,TextVQA:1", budget=Budget(gflops=20000), workload=Workload(text_tokens=50))
    assert 0 < rec.quality.score <= 1
    assert rec.task == "GQA:1,TextVQA:1"


def test_latency_budget_on_hardware(planner: Planner) -> None:
    rec = planner.recommend(task="visual-reasoning", budget=Budget(latency_ms=400),
                            workload=Workload(text_tokens=50, output_tokens=64), family="llava_next")
    assert rec.cost.latency_s is not None and rec.cost.latency_s * 1e3 <= 400
    assert rec.cost_axis == "latency_s" and rec.cost.hardware == "h100-sxm"
    assert rec.cost.usd_per_1k_requests is not None and rec.cost.usd_per_1k_requests > 0


def test_nothing_fits_names_the_cheapest(planner: Planner) -> None:
    with pytest.raises(NoFeasibleCandidateError) as caught:
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=0.5), workload=Workload(text_tokens=50),
                          accounting="paper", include="all")
    assert "cheapest" in str(caught.value) and "+tokenpacker@1" in str(caught.value)
    assert caught.value.cheapest["key"].startswith("paper-2411.03312/llava-next-qwen1.5-0.5b")


def test_json_has_the_documented_fields(planner: Planner) -> None:
    rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=1000), accounting="paper", include="all")
    data = rec.model_dump(mode="json")
    for path in ("candidate.key", "candidate.model", "candidate.compressor", "candidate.visual_tokens",
                 "quality.score", "quality.provenance", "cost.flops", "runnable.runnable", "runnable.reasons"):
        node = data
        for part in path.split("."):
            node = node[part]
        assert node is not None
    assert isinstance(data["frontier"], list) and all(isinstance(k, str) for k in data["frontier"])
    assert data["reason"]


def test_frontier_is_monotone(planner: Planner) -> None:
    points = planner.frontier(task="visual-reasoning", accounting="paper")
    assert [p.cost for p in points] == sorted(p.cost for p in points)
    assert [p.score for p in points] == sorted(p.score for p in points)


@pytest.mark.parametrize("bad", [{"gflops": 0}, {"gflops": -5}, {"gflops": math.nan}, {}])
def test_bad_budgets(planner: Planner, bad: dict[str, float]) -> None:
    with pytest.raises(InvalidBudgetError):
        planner.recommend(task="visual-reasoning", budget=bad)


def test_unknown_task_suggests(planner: Planner) -> None:
    with pytest.raises(UnknownTaskError, match="did you mean"):
        planner.recommend(task="visual-reasonin", budget=Budget(gflops=100))


def test_negative_workload_is_rejected(planner: Planner) -> None:
    with pytest.raises(ValidationError, match="text_tokens"):
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=100), workload={"text_tokens": -1})


def test_hardware_without_bandwidth_is_rejected(planner_url: str) -> None:
    broken = Hardware(name="mystery", peak_bf16_tflops=100.0, memory_gb=80.0)
    with Planner(planner_url, hardware=broken) as planner, pytest.raises(InvalidHardwareError, match="bandwidth"):
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=1000))


def test_unknown_hardware_and_model(planner_url: str, planner: Planner) -> None:
    with pytest.raises(UnknownHardwareError, match="did you mean"):
        Planner(planner_url, hardware="h1000-sxm")
    with pytest.raises(UnknownModelError):
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=100), model="nope/nope")


def test_hardware_prefix_resolves(planner_url: str) -> None:
    with Planner(planner_url, hardware="h100") as planner:
        assert planner.hardware is not None and planner.hardware.name == "h100-sxm"


def test_money_budget_needs_hardware(planner_url: str) -> None:
    with Planner(planner_url, hardware=None) as planner, pytest.raises(InvalidBudgetError, match="hardware"):
        planner.recommend(task="visual-reasoning", budget=Budget(usd_per_1k_requests=1.0))


def test_extrapolated_choice_warns(planner: Planner) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=5000), accounting="paper",
                          model="paper-2411.03312/llava-next-qwen1.5-14b", compressor="tokenpacker", include="all")
    assert any("Extrapolation" in type(w.message).__name__ for w in caught)


def test_reason_flags_trained_compressors_and_upper_bounds(planner: Planner) -> None:
    rec = planner.recommend(task="GQA", budget=Budget(latency_ms=150), workload=Workload(text_tokens=50, output_tokens=16),
                            include="all")
    if rec.compressor.training == "trained":  # no trained weights are known: a what-if, and the reason says so
        assert not rec.runnable.runnable and "What-if only" in rec.reason
    if "tokens-upper-bound" in rec.quality.flags:
        assert "upper bound" in rec.reason
    assert rec.quality.provenance in ("published", "measured", "imported")
