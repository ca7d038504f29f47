"""The paper's conclusions, reproduced from the shipped catalog in paper accounting."""

from __future__ import annotations

import pytest

from vlmplanner.errors import ExtrapolationWarning
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Workload

#: The paper's grid is a what-if: its checkpoints were never released and tokenpacker is not implemented.
PAPER = {"family": "llava_next", "compressor": "tokenpacker", "accounting": "paper", "include": "all"}


@pytest.mark.parametrize(
    ("task", "text_tokens", "gflops", "expected"),
    [
        ("visual-reasoning", 50, 1000, "paper-2411.03312/llava-next-qwen1.5-7b+tokenpacker@16"),
        ("visual-reasoning", 0, 20, "paper-2411.03312/llava-next-qwen1.5-7b+tokenpacker@1"),
        ("ocr-text", 50, 1000, "paper-2411.03312/llava-next-qwen1.5-0.5b+tokenpacker@576"),
    ],
)
def test_paper_recommendations(planner: Planner, task: str, text_tokens: int, gflops: float, expected: str) -> None:
    rec = planner.recommend(task=task, budget=Budget(gflops=gflops), workload=Workload(text_tokens=text_tokens),
                            **PAPER)  # type: ignore[arg-type]
    assert rec.candidate.key == expected
    assert rec.cost.accounting == "paper"
    assert rec.cost.flops == pytest.approx(2 * rec.model.llm.params_b * 1e9 * (text_tokens + rec.candidate.visual_tokens))
    assert rec.cost.flops <= gflops * 1e9
    assert rec.quality.provenance == "published"
    assert rec.frontier and rec.candidate.key in rec.frontier
    assert not rec.runnable.runnable  # reproduced as a what-if, and said so
    assert any("tokenpacker" in r for r in rec.runnable.reasons)
    assert any("no released weights" in r for r in rec.runnable.reasons)
    assert "What-if only" in rec.reason


def test_reasoning_law_matches_the_paper(planner: Planner) -> None:
    law = planner.snapshot.laws.laws[("llava_next:Qwen1.5", "tokenpacker", "avg_visual_reasoning")]
    assert law.alpha == pytest.approx(0.077, abs=0.01)
    assert law.beta == pytest.approx(0.015, abs=0.01)
    assert 10 <= law.optimal_visual_tokens(50) <= 14
    assert law.loo_mae_points is not None and law.loo_mae_points <= 1.0


def test_ocr_law_flips(planner: Planner) -> None:
    law = planner.snapshot.laws.laws[("llava_next:Qwen1.5", "tokenpacker", "avg_ocr_like")]
    assert law.beta > law.alpha


def test_unmeasured_size_is_predicted_with_an_interval(planner: Planner) -> None:
    with pytest.warns(ExtrapolationWarning, match="outside the fitted range"):
        rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=5000),
                                workload=Workload(text_tokens=50), model="paper-2411.03312/llava-next-qwen1.5-14b",
                                compressor="tokenpacker", accounting="paper", include="all")
    quality = rec.quality
    assert quality.provenance == "predicted"
    assert quality.low is not None and quality.high is not None and quality.low < quality.score < quality.high
    assert quality.extrapolated  # 14B lies outside the 0.5B–7B the law was fitted on
    assert rec.law is not None and rec.law["alpha"] > rec.law["beta"]


def test_shipped_fits_are_used_and_changed_results_refit_in_memory(planner_url: str) -> None:
    key = ("llava_next:Qwen1.5", "tokenpacker", "avg_visual_reasoning")
    with Planner(planner_url, hardware=None) as first:
        stored = {f.benchmark: f.data_digest for f in first.catalog.scaling_fits()}
        assert {"avg_visual_reasoning", "avg_ocr_like"} <= set(stored)  # shipped with the catalog
        assert first.snapshot.laws.refitted == [] and first.snapshot.laws.unsaved == []  # loaded, not fitted
    with Planner(planner_url, hardware=None) as second:
        second.catalog.add_result(model="paper-2411.03312/llava-next-qwen1.5-14b", compressor="tokenpacker",
                                  visual_tokens=16, benchmark="avg_visual_reasoning", score=0.56,
                                  source="test: a measured 14B point")
        second.refresh()
        assert key in second.snapshot.laws.refitted and key in second.snapshot.laws.unsaved
        assert {f.benchmark: f.data_digest for f in second.catalog.scaling_fits()} == stored  # read, not written
        law = second.snapshot.laws.laws[key]
        assert law.n_range[1] == 14
        rec = second.recommend(task="visual-reasoning", budget=Budget(gflops=2 * 14 * (50 + 16)), accounting="paper",
                               model="paper-2411.03312/llava-next-qwen1.5-14b", compressor="tokenpacker",
                               include="all")
        assert rec.candidate.visual_tokens == 16 and rec.quality.provenance == "measured"
        assert rec.quality.score == 0.56
    with Planner(planner_url, hardware=None) as third:  # same process: the new fit is not made again
        assert third.snapshot.laws.refitted == [] and key in third.snapshot.laws.unsaved
        assert third.snapshot.laws.save(third.catalog) == [key]
        assert third.catalog.scaling_fits(benchmark="avg_visual_reasoning")[0].data_digest != stored[
            "avg_visual_reasoning"]
    with Planner(planner_url, hardware=None) as fourth:
        assert fourth.snapshot.laws.unsaved == []
