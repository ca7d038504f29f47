"""Every built-in compressor on every family it supports: saved to disk, loaded back through
``vlmplanner.load(key, checkpoint=dir)`` from a catalog, it generates, and the language model really
receives k visual tokens per image (text tokens + k; FastV: all tokens before layer K, text + k from K).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import FAMILIES, IMAGE_SIZE, LLM_LAYERS, LLMRecorder, SavedModel, make_image

import vlmplanner
from vlmplanner.compressors import BUILTIN_COMPRESSORS, compressor_card
from vlmplanner.compressors.resize import image_tokens, input_size

#: k per compressor and family for the tiny models: LLaVA 4x4 patches (16 tokens); LLaVA-NeXT k is
#: per image over its 5 crops (k / 5 per crop); Qwen 4x4 merged tokens for a 112x112 image. Pairs not
#: listed take :func:`default_tokens`.
TOKENS: dict[str, dict[str, int]] = {
    "llava": {"none": 16, "pool": 4, "cls-topk": 5, "visionzip": 6, "prumerge+": 7, "divprune": 3,
              "fastv": 5, "quecc": 4, "pdrop": 5, "dart": 4, "sparsevlm": 5},
    "llava_next": {"none": 88, "pool": 20, "cls-topk": 15, "visionzip": 30, "prumerge+": 25, "divprune": 10,
                   "fastv": 30, "pdrop": 12, "dart": 10, "sparsevlm": 12,
                   "downsample": 60},   # a smaller image still has the base view and two tiles
    "qwen2_vl": {"none": 256, "pool": 4, "divprune": 5, "fastv": 6, "pdrop": 12, "dart": 10, "sparsevlm": 12},
    "qwen2_5_vl": {"none": 256, "pool": 4, "divprune": 5, "fastv": 6, "pdrop": 12, "dart": 10, "sparsevlm": 12},
    # 12x12 merged tokens at 384x384 (none: the 448x448 reference count); downsample's smallest input (65,536 pixels) gives 8x8
    "qwen3_vl": {"none": 196, "pool": 4, "divprune": 5, "downsample": 64},
    "qwen3_vl_moe": {"none": 196, "pool": 16, "divprune": 7, "downsample": 100},
    "qwen3_5": {"none": 196, "pool": 4, "divprune": 5, "downsample": 64},
    "qwen3_5_moe": {"none": 196, "pool": 16, "divprune": 7, "downsample": 100},
    # 4x4 pooled tokens per image, whatever its size
    "gemma3": {"none": 16, "pool": 4, "divprune": 7},
    # 4x4 tokens per view, k / 13 per view (the most views: 12 tiles and a thumbnail); a square image is one view
    "internvl": {"none": 208, "pool": 52, "divprune": 39, "fastv": 6, "pdrop": 12, "dart": 10, "sparsevlm": 12},
    # k / 37 per crop (the most crops: 6x6 tiles and the base view); none: the 336x336 reference count
    "llava_onevision": {"none": 172, "pool": 148, "divprune": 37, "fastv": 30, "pdrop": 12, "dart": 10,
                        "sparsevlm": 12, "downsample": 60},
}
#: compressor options for the tiny models (PyramidDrop's K = 8 does not fit 3 layers)
OPTIONS: dict[str, dict[str, Any]] = {"pdrop": {"prune_layer": 1}}
#: LLaVA-NeXT: a 112x112 image is 1 base view + 2x2 tiles (5 crops) and 8 rows of newline tokens.
NEXT_CROPS, NEXT_NEWLINES = 5, 8
#: InternVL: k is divided by the most views an image can have (12 tiles and a thumbnail).
INTERNVL_VIEWS = 13
#: LLaVA-OneVision: k is divided by the most crops (6x6 tiles and the base view); a 112x112 image
#: is 1 base view + 2x2 tiles and 8 newline rows (too few features to be pooled).
ONEVISION_CROPS = 37

CASES = [(family, name) for family in FAMILIES for name in sorted(BUILTIN_COMPRESSORS)
         if compressor_card(name).supports(family)]


def default_tokens(family: str, name: str) -> int:
    """The largest k up to 6 the compressor's token rule allows on the 4x4 grid (times the 5 crops on
    LLaVA-NeXT)."""
    card = compressor_card(name)
    per_grid = max(k for k in card.allowed_tokens(16, (4, 4)) if k <= 6)
    crops = ({"llava_next": NEXT_CROPS, "internvl": INTERNVL_VIEWS, "llava_onevision": ONEVISION_CROPS}.get(family, 1)
             if card.kind == "pre-llm" else 1)
    return per_grid * crops


def tokens_for(family: str, name: str) -> int:
    return TOKENS[family].get(name) or default_tokens(family, name)


def test_every_builtin_runs_on_some_family() -> None:
    assert {n for _, n in CASES} == set(BUILTIN_COMPRESSORS)
    assert all((f, n) in CASES for f in TOKENS for n in TOKENS[f])


def text_tokens(saved: SavedModel, prompt: str) -> int:
    """Prompt tokens that are not image placeholders, counted with the model's own processor."""
    tiny = saved.tiny
    image = make_image(*IMAGE_SIZE[saved.family])
    batch = tiny.processor(text=tiny.family.image_marker(tiny.processor) + prompt, images=image, return_tensors="pt")
    token = getattr(tiny.config, "image_token_id", None) or tiny.config.image_token_index
    return int((batch["input_ids"] != token).sum())


def expected_visual(family: str, name: str, k: int, native: int, spec: Any) -> int:
    if name == "none" or compressor_card(name).kind == "in-llm":
        return native
    if name == "downsample":   # the processor's own count of the smaller image: at most k
        visual = image_tokens(spec, input_size(spec, IMAGE_SIZE[family], k))
        assert visual <= k
        return visual
    if family == "llava_next":
        return NEXT_CROPS * (k // NEXT_CROPS) + NEXT_NEWLINES
    if family == "internvl":           # k / 13 per view, and this image is one view
        return k // INTERNVL_VIEWS
    if family == "llava_onevision":    # k / 37 per crop on this image's 5 crops
        return NEXT_CROPS * (k // ONEVISION_CROPS) + NEXT_NEWLINES
    return k


def quecc_weights(tmp_path: Path, saved: SavedModel, k: int) -> Path:
    """A QueCC for the tiny LLaVA, 'trained' (seeded weights, marked trained) and saved."""
    from vlmplanner.compressors.quecc import QueCC

    spec = saved.spec
    grid = (spec.vision.image_size // spec.vision.patch_size,) * 2
    quecc = QueCC(k, grid=grid, vision_dim=spec.vision.hidden_size, query_dim=spec.llm.hidden_size, seed=0)
    quecc.mark_trained("test fixture")
    return quecc.save_weights(tmp_path / "quecc.safetensors")


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_loaded_configuration_generates_with_k_tokens(family: str, name: str, saved: dict[str, SavedModel],
                                                      catalog: Any, tmp_path: Path) -> None:
    model = saved[family]
    k = tokens_for(family, name)
    key = f"{model.key_model}+{name}@{k}"
    weights = quecc_weights(tmp_path, model, k) if name == "quecc" else None
    pipeline = vlmplanner.load(key, catalog=catalog, checkpoint=model.directory, compressor_weights=weights,
                               compressor_options=OPTIONS.get(name))
    try:
        assert pipeline.key == key and pipeline.candidate.visual_tokens == k
        assert pipeline.compressor.card.name == name
        assert pipeline.model is not model.tiny.model            # really loaded from disk
        prompts = ["what is in the picture ?", "how many cat are there ?"]
        images = [make_image(*IMAGE_SIZE[family], seed=1), make_image(*IMAGE_SIZE[family], seed=2)]
        recorder = LLMRecorder(pipeline.model)
        try:
            answers = pipeline.generate(images, prompts, max_new_tokens=3, do_sample=False)
        finally:
            recorder.remove()
        assert isinstance(answers, list) and len(answers) == 2 and all(isinstance(a, str) for a in answers)
        assert recorder.batches[0] == 2
        native = model.tiny.family.visual_tokens(model.spec, IMAGE_SIZE[family])
        text = max(text_tokens(model, p) for p in prompts)      # left padding: the longer prompt sets T
        visual = expected_visual(family, name, k, native, model.spec)
        assert recorder.prefill == text + visual, (recorder.prefill, text, visual)
        if compressor_card(name).kind == "in-llm":                                # per layer, as its schedule says
            counts = pipeline.compressor.layer_tokens(native, LLM_LAYERS)
            assert all(recorder.layers[i] == text + counts[i] for i in range(LLM_LAYERS)), (recorder.layers, counts)
            prune = pipeline.compressor.prune_layer
            assert sum(counts[prune:]) == k * (LLM_LAYERS - prune)
        else:
            assert set(recorder.layers.values()) == {text + visual}
        assert pipeline.visual_tokens(images, prompts) == [visual, visual]
    finally:
        pipeline.close()


def test_quecc_untrained_with_allow_untrained(saved: dict[str, SavedModel], catalog: Any) -> None:
    pipeline = vlmplanner.load("tiny/llava+quecc@1", catalog=catalog, checkpoint=saved["llava"].directory,
                               compressor_options={"allow_untrained": True, "seed": 0})
    with pipeline:
        assert pipeline.visual_tokens([make_image(80, 80)], ["describe it ."]) == [1]
        assert len(pipeline.generate(make_image(80, 80), "describe it .", max_new_tokens=2)) == 1
        assert any("hidden states" in note for note in pipeline.notes)    # the tiny tower's layers


def test_model_spec_instead_of_a_catalog(saved: dict[str, SavedModel]) -> None:
    model = saved["qwen2_vl"]
    with vlmplanner.load("tiny/qwen2_vl+pool@4", model_spec=model.spec, checkpoint=model.directory) as pipeline:
        recorder = LLMRecorder(pipeline.model)
        out = pipeline.generate([make_image(112, 112)], ["what is in the picture ?"], max_new_tokens=2)
        recorder.remove()
        assert len(out) == 1
        assert recorder.prefill == text_tokens(model, "what is in the picture ?") + 4


def test_local_checkpoint_id_needs_no_checkpoint_argument(saved: dict[str, SavedModel], tmp_path: Path) -> None:
    """A model registered under its directory path loads from there."""
    from vlmplanner.register import register_model
    from vlmplanner.store import open_catalog

    directory = saved["llava"].directory
    with open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}") as catalog:
        spec = register_model(directory, catalog=catalog)
        assert spec.checkpoint == str(directory.resolve())
        with vlmplanner.load(f"{spec.checkpoint}+pool@1", catalog=catalog) as pipeline:
            assert pipeline.plan.local_checkpoint and pipeline.plan.checkpoint == str(directory.resolve())
            assert len(pipeline.generate(make_image(60, 90), "describe it .", max_new_tokens=2)) == 1


def test_several_images_per_prompt_and_a_path(saved: dict[str, SavedModel], catalog: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    make_image(70, 50, seed=3).save(path)
    model = saved["llava"]
    prompt = "<image> and <image> : what is in the picture ?"
    images = [[make_image(60, 60), str(path)]]
    native = model.tiny.processor(text=prompt, images=[make_image(60, 60), make_image(70, 50)], return_tensors="pt")
    text = int((native["input_ids"] != model.tiny.config.image_token_id).sum())
    with vlmplanner.load("tiny/llava+cls-topk@3", catalog=catalog, checkpoint=model.directory) as pipeline:
        recorder = LLMRecorder(pipeline.model)
        out = pipeline.generate(images, [prompt], max_new_tokens=2)
        recorder.remove()
        assert len(out) == 1
        assert pipeline.visual_tokens(images, [prompt]) == [6]
        assert recorder.prefill == text + 6
