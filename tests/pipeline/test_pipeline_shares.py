"""A share of each image's native tokens (``…+divprune@25%``) on a family whose count follows the
image: every image keeps its own share, and what cannot be a share is refused before loading."""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_helpers import LLMRecorder, SavedModel, make_image

import vlmplanner
from vlmplanner.errors import InvalidTokenCountError


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_each_image_keeps_its_share(family: str, saved: dict[str, SavedModel], catalog: Any) -> None:
    model = saved[family]
    key = f"{model.key_model}+divprune@25%"
    pipeline = vlmplanner.load(key, catalog=catalog, checkpoint=model.directory)
    try:
        assert pipeline.key == key and pipeline.candidate.share == 0.25
        images = [make_image(112, 112, seed=1), make_image(112, 224, seed=2)]  # 4x4 and 4x8 merged tokens
        prompts = ["what is in the picture ?", "how many cat are there ?"]
        assert pipeline.visual_tokens(images, prompts) == [4, 8]          # 25% of 16 and of 32
        recorder = LLMRecorder(pipeline.model)
        try:
            answers = pipeline.generate(images, prompts, max_new_tokens=2, do_sample=False)
        finally:
            recorder.remove()
        assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    finally:
        pipeline.close()


@pytest.mark.parametrize("compressor", ["fastv", "dart", "pdrop"])
def test_in_llm_compressors_keep_each_images_share_from_layer_k(compressor: str, saved: dict[str, SavedModel],
                                                                catalog: Any) -> None:
    """From layer K on, each image keeps its own share (averaged over K..L-1 for a multi-stage one);
    the layers before K see all of its tokens."""
    model = saved["qwen2_vl"]
    key = f"{model.key_model}+{compressor}@25%"
    pipeline = vlmplanner.load(key, catalog=catalog, checkpoint=model.directory,
                               compressor_options={"prune_layer": 1})
    try:
        for size, native in (((112, 112), 16), ((112, 224), 32)):
            image, prompt = make_image(*size, seed=1), "what is in the picture ?"
            recorder = LLMRecorder(pipeline.model)
            try:
                pipeline.generate([image], [prompt], max_new_tokens=2, do_sample=False)
            finally:
                recorder.remove()
            text = recorder.prefill - native
            seen = [recorder.layers[i] - text for i in sorted(recorder.layers)]
            assert seen[0] == native and sum(seen[1:]) == native // 4 * (len(seen) - 1), (size, seen)
        images = [make_image(112, 112, seed=1), make_image(112, 224, seed=2)]
        answers = pipeline.generate(images, ["a ?", "b ?"], max_new_tokens=2, do_sample=False)
        assert len(answers) == 2                           # two image sizes: one batch each
    finally:
        pipeline.close()


@pytest.mark.parametrize(("family", "compressor", "share", "words"), [
    ("llava", "divprune", "25%", "whose count follows the image"),    # fixed resolution: no share rule
    ("llava_next", "pool", "25%", "whose count follows the image"),
    ("qwen2_vl", "none", "50%", "keeps every token"),
    ("qwen2_vl", "divprune", "0%", "(0, 100%]"),
    ("qwen2_vl", "divprune", "120%", "(0, 100%]"),
])
def test_what_cannot_be_a_share_is_refused_before_loading(family: str, compressor: str, share: str, words: str,
                                                          saved: dict[str, SavedModel], catalog: Any) -> None:
    model = saved[family]
    with pytest.raises(InvalidTokenCountError) as caught:
        vlmplanner.load(f"{model.key_model}+{compressor}@{share}", catalog=catalog, checkpoint=model.directory)
    assert caught.value.field == "share" and words in caught.value.message
