"""Shares of the native tokens: the key grammar, published share results as candidates whose cost
follows the workload's image, and clear errors for what cannot be a share."""

from __future__ import annotations

import json

import pytest

from vlmplanner.errors import InvalidTokenCountError, NoCandidateError
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Candidate, Workload
from vlmplanner.store.shipped import load_shipped

QWEN25 = "Qwen/Qwen2.5-VL-7B-Instruct"


@pytest.mark.parametrize(("key", "share"), [("m+divprune@25%", 0.25), ("m+visionzip@6.25%", 0.0625),
                                            ("m+none@100%", 1.0), ("org/m+prumerge+@1%", 0.01)])
def test_the_key_grammar_reads_and_writes_shares(key: str, share: float) -> None:
    candidate = Candidate.parse(key)
    assert candidate.share == share and candidate.visual_tokens is None and candidate.key == key
    assert Candidate.model_validate(json.loads(candidate.model_dump_json())).key == key
    assert candidate.tokens_for(256) == max(1, round(share * 256))


@pytest.mark.parametrize("key", ["m+divprune@0%", "m+divprune@-5%", "m+divprune@100.5%", "m+divprune@abc%",
                                 "m+divprune@%"])
def test_a_share_outside_0_100_is_refused(key: str) -> None:
    with pytest.raises(InvalidTokenCountError) as caught:
        Candidate.parse(key)
    assert caught.value.field == "share"


def test_a_count_or_a_share_not_both() -> None:
    with pytest.raises(InvalidTokenCountError):
        Candidate(model="m", compressor="pool", visual_tokens=4, share=0.5)
    with pytest.raises(InvalidTokenCountError):
        Candidate(model="m", compressor="pool")


def test_published_shares_are_the_labels_numbers() -> None:
    """Every share comes from a row's label exactly ('ratio=0.0625 ...'), nothing interpolated."""
    rows = [r for r in load_shipped().quality_results() if r.share is not None]
    assert rows and all(r.visual_tokens is None for r in rows)
    for row in rows:
        if row.compressor == "none":
            assert row.share == 1.0 and row.visual_tokens_label.startswith("dynamic")
        else:
            assert row.visual_tokens_label.startswith(f"ratio={row.visual_tokens_label[6:].split()[0]}")
            assert row.share == float(row.visual_tokens_label[6:].split()[0])


def test_share_rows_are_candidates_whose_cost_follows_the_image(planner: Planner) -> None:
    small, large = Workload(text_tokens=50, image_size=(448, 448)), Workload(text_tokens=50, image_size=(896, 896))
    at_small = planner.recommend(task="TextVQA", model=QWEN25, compressor="divprune", workload=small,
                                 budget=Budget(gflops=1e6))
    at_large = planner.recommend(task="TextVQA", model=QWEN25, compressor="divprune", workload=large,
                                 budget=Budget(gflops=1e6))
    assert "%" in at_small.candidate.key and at_small.candidate.share is not None
    assert at_small.runnable.runnable and at_small.quality.provenance == "published"
    assert at_small.candidate.key == at_large.candidate.key                 # the same share...
    assert at_large.cost.flops > 3 * at_small.cost.flops                      # ...of 4x the native tokens
    reread = type(at_small).model_validate(json.loads(at_small.model_dump_json()))
    assert reread.candidate.key == at_small.candidate.key


def test_shares_where_the_sdk_cannot_run_them_are_what_ifs(planner: Planner) -> None:
    """Qwen2.5-VL's VisionZip results are shares the SDK cannot run there (no [CLS] attention on
    Qwen): a what-if with its reason and the runnable alternative."""
    rec = planner.recommend(task="TextVQA", model=QWEN25, compressor="visionzip", include="all",
                            workload=Workload(text_tokens=50), budget=Budget(gflops=1e6))
    assert "%" in rec.candidate.key and not rec.runnable.runnable
    assert any("cls_attention" in reason for reason in rec.runnable.reasons)
    with pytest.raises(NoCandidateError):  # nothing runnable with visionzip on Qwen
        planner.recommend(task="TextVQA", model=QWEN25, compressor="visionzip", workload=Workload(text_tokens=50),
                          budget=Budget(gflops=1e6))
