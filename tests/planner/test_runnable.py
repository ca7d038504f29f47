"""Runnability is part of a recommendation; task families are estimated for real models. No torch."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
from _extras import requires_torch

from vlmplanner.errors import NoCandidateError, NotRunnableError, ValidationError
from vlmplanner.pipeline.runnable import runnability
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Workload
from vlmplanner.store.shipped import load_shipped

MODELS = {m.checkpoint: m for m in load_shipped().models}
LLAVA = MODELS["llava-hf/llava-1.5-7b-hf"]
GRID = MODELS["paper-2411.03312/llava-next-qwen1.5-4b"]
QWEN = MODELS["Qwen/Qwen2-VL-7B-Instruct"]
NEXT = MODELS["llava-hf/llava-v1.6-vicuna-7b-hf"]


@pytest.mark.parametrize(("spec", "compressor", "k", "expected"), [
    (LLAVA, "tokenpacker", 36, ["does not implement compressor 'tokenpacker'"]),
    (GRID, "none", 2880, ["no released weights"]),
    (LLAVA, "quecc", 36, ["is trained"]),
    (QWEN, "visionzip", 64, ["does not support model_type 'qwen2_vl'"]),
    (LLAVA, "pool", 100, ["tile the 24x24 patch grid"]),
    (NEXT, "pool", 144, ["multiple of 5"]),
    (GRID, "tokenpacker", 36, ["does not implement", "no released weights"]),  # every reason, not the first
])
def test_every_reason_is_named(spec, compressor: str, k: int, expected: list[str]) -> None:
    found = runnability(spec, compressor, k)
    assert not found.runnable
    assert len(found.reasons) == len(expected), found.reasons
    for reason, text in zip(found.reasons, expected):
        assert text in reason


@pytest.mark.parametrize(("spec", "compressor", "k"), [
    (LLAVA, "none", 576), (LLAVA, "pool", 144), (LLAVA, "visionzip", 64), (LLAVA, "fastv", 64),
    (QWEN, "pool", 100), (QWEN, "fastv", 64), (NEXT, "divprune", 320),
])
def test_runnable_candidates_have_no_reason(spec, compressor: str, k: int) -> None:
    found = runnability(spec, compressor, k)
    assert found.runnable and found.reasons == ()


def test_a_local_checkpoint_and_weights_lift_their_reasons(tmp_path) -> None:
    folder = tmp_path / "grid-4b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llava_next"}))
    assert runnability(GRID, "none", 2880, checkpoint=folder).runnable
    weights = tmp_path / "quecc.safetensors"
    weights.write_bytes(b"")
    assert runnability(LLAVA, "quecc", 36, compressor_weights=weights).runnable


def test_the_default_recommendation_is_runnable_and_says_so(planner: Planner) -> None:
    rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=3000), workload=Workload(text_tokens=50))
    assert rec.runnable.runnable and rec.include == "runnable" and rec.runnable_alternative is None
    assert all(r.runnable for r in rec.runners_up) and all(p.runnable for p in rec.frontier_points)
    assert "What-if" not in rec.reason


@requires_torch  # instantiate() names a missing extra first
def test_a_what_if_names_its_reasons_and_the_runnable_alternative(planner: Planner) -> None:
    rec = planner.recommend(task="GQA", budget=Budget(gflops=3000), workload=Workload(text_tokens=50), include="all")
    default = planner.recommend(task="GQA", budget=Budget(gflops=3000), workload=Workload(text_tokens=50))
    assert not rec.runnable.runnable and rec.runnable.reasons
    assert rec.runnable_alternative == default.key
    assert f"The best configuration it can run within the budget is {default.key}" in rec.reason
    assert rec.quality.score >= default.quality.score
    data = json.loads(rec.model_dump_json())
    assert data["runnable"]["runnable"] is False and data["runnable_alternative"] == default.key
    with pytest.raises(NotRunnableError) as caught:
        rec.instantiate()
    assert caught.value.reasons == rec.runnable.reasons and caught.value.alternative == default.key
    assert default.key in caught.value.message and caught.value.field == "candidate"


@requires_torch
def test_instantiating_a_what_if_fails_before_anything_loads(planner: Planner) -> None:
    rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=1000), accounting="paper",
                            family="llava_next", compressor="tokenpacker", include="all")
    code = ("import sys, json\nfrom vlmplanner.planner import Recommendation\n"
            f"rec = Recommendation.model_validate_json({rec.model_dump_json()!r})\n"
            "try:\n    rec.instantiate()\nexcept Exception as e:\n    print(type(e).__name__, len(e.reasons))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # tokenpacker is not implemented; the grid's weights were never released
    assert result.stdout.strip().splitlines()[-1] == "NotRunnableError 2"


def test_only_what_ifs_is_a_no_candidate_error(planner: Planner) -> None:
    with pytest.raises(NoCandidateError) as caught:
        planner.recommend(task="visual-reasoning", budget=Budget(gflops=1000), compressor="tokenpacker",
                          family="llava_next")
    assert caught.value.unrunnable > 0 and "include='all'" in caught.value.message
    assert "tokenpacker" in caught.value.message


@pytest.mark.parametrize("bad", ["everything", "", None, 1])
def test_include_is_checked(planner: Planner, bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        planner.recommend(task="GQA", budget=Budget(gflops=3000), include=bad)  # type: ignore[arg-type]
    assert caught.value.field == "include"
    with pytest.raises(ValidationError):
        planner.frontier(task="GQA", include=bad)  # type: ignore[arg-type]


def test_a_task_family_of_a_real_model_is_the_mean_of_its_benchmarks(planner: Planner) -> None:
    rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=3000), workload=Workload(text_tokens=50))
    parts = {p.benchmark: p for p in rec.quality.parts}
    assert set(parts) == {"GQA", "MMBench", "MME(P)", "POPE", "SQA-IMG"}
    assert rec.quality.score == pytest.approx(sum(p.score / p.max_score for p in parts.values()) / 5)
    assert parts["MME(P)"].max_score == 2000
    for benchmark, part in parts.items():  # each part is the catalog's own result at that point
        found = planner.catalog.results(model=rec.candidate.model, compressor=rec.candidate.compressor,
                                        benchmark=benchmark, visual_tokens=rec.candidate.visual_tokens)
        assert part.score == statistics.median(r.score for r in found if r.provenance == part.provenance)
        assert part.sources
    assert "mean of GQA, MMBench, MME(P), POPE, SQA-IMG" in rec.quality.metric


def test_a_candidate_missing_one_benchmark_gets_no_family_estimate(planner_url: str) -> None:
    from vlmplanner.store import open_catalog

    with open_catalog(planner_url) as catalog:
        for benchmark, score in (("GQA", 61.0), ("MMBench", 64.0), ("MME(P)", 1500.0), ("POPE", 86.0)):
            catalog.add_result(model="llava-hf/llava-1.5-13b-hf", compressor="pool", visual_tokens=144,
                               benchmark=benchmark, score=score, source="test: no SQA-IMG")
        catalog.add_result(model="llava-hf/llava-1.5-13b-hf", compressor="pool", visual_tokens=36,
                           benchmark="GQA", score=58.0, source="test: GQA only")
    with Planner(planner_url) as planner:
        points = planner.frontier(task="visual-reasoning", model="llava-hf/llava-1.5-13b-hf", compressor="pool")
        assert points == []  # four of five benchmarks at 144, one at 36: no family estimate anywhere
        catalog = planner.catalog
        catalog.add_result(model="llava-hf/llava-1.5-13b-hf", compressor="pool", visual_tokens=144,
                           benchmark="SQA-IMG", score=70.0, source="test: the fifth")
        (point,) = planner.frontier(task="visual-reasoning", model="llava-hf/llava-1.5-13b-hf", compressor="pool")
    assert point.key == "llava-hf/llava-1.5-13b-hf+pool@144"
    assert point.score == pytest.approx((0.61 + 0.64 + 0.75 + 0.86 + 0.70) / 5)


def test_a_recommendation_reads_back_from_its_json(planner: Planner) -> None:
    from vlmplanner.planner import Recommendation

    rec = planner.recommend(task="GQA", budget=Budget(gflops=3000), include="all")
    again = Recommendation.model_validate_json(rec.model_dump_json())
    assert again == rec and again.runnable == rec.runnable
