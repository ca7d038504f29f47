"""The flow end to end: register a (tiny) model, store results, recommend, instantiate, generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import LLMRecorder, SavedModel, make_image

from vlmplanner.errors import ValidationError


@pytest.fixture(scope="module")
def recommendation(tmp_path_factory: pytest.TempPathFactory, saved: dict[str, SavedModel]) -> Any:
    from vlmplanner.planner import Planner
    from vlmplanner.register import register_model
    from vlmplanner.store import open_catalog

    url = f"sqlite:///{tmp_path_factory.mktemp('recommend') / 'catalog.sqlite3'}"
    with open_catalog(url) as catalog:
        register_model(saved["llava"].directory, catalog=catalog, checkpoint="tiny/llava")
        for compressor, k, score in (("pool", 4, 58.0), ("pool", 16, 55.0), ("cls-topk", 4, 52.0), ("none", 16, 56.0)):
            catalog.add_result(model="tiny/llava", compressor=compressor, visual_tokens=k, benchmark="GQA",
                               score=score, source="test fixture")
    with Planner(url, hardware=None) as planner:
        return planner.recommend(task="GQA", budget={"gflops": 1000}, model="tiny/llava")


def test_recommendation_instantiates_and_generates(recommendation: Any, saved: dict[str, SavedModel]) -> None:
    assert recommendation.key == "tiny/llava+pool@4"
    pipeline = recommendation.instantiate(checkpoint=saved["llava"].directory)
    with pipeline:
        assert pipeline.candidate == recommendation.candidate
        assert pipeline.spec == recommendation.model
        recorder = LLMRecorder(pipeline.model)
        answers = pipeline.generate([make_image(80, 60)], ["what is in the picture ?"], max_new_tokens=3)
        recorder.remove()
        assert len(answers) == 1 and isinstance(answers[0], str)
        inputs = saved["llava"].tiny.processor(text="<image>\nwhat is in the picture ?", images=make_image(80, 60),
                                               return_tensors="pt")
        text = int((inputs["input_ids"] != saved["llava"].tiny.config.image_token_id).sum())
        assert recorder.prefill == text + 4


def test_instantiate_checks_first(recommendation: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        recommendation.instantiate(checkpoint=tmp_path / "nowhere")
    assert info.value.field == "checkpoint"
    with pytest.raises(ValidationError) as info:
        recommendation.instantiate(device="tpu")
    assert info.value.field == "device"


def test_dtype_is_applied(recommendation: Any, saved: dict[str, SavedModel]) -> None:
    import torch

    with recommendation.instantiate(checkpoint=saved["llava"].directory, dtype="bf16") as pipeline:
        assert pipeline.model.dtype == torch.bfloat16
        assert len(pipeline.generate(make_image(60, 60), "describe it .", max_new_tokens=2)) == 1
