"""The seams against transformers' own computation: ``none`` through the seam gives the model's own
logits (features, LLaVA-NeXT layout, Qwen M-RoPE), the recomputed attention rows equal eager
attention, FastV keeping every token changes nothing, and batches equal their rows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _extras import TORCH_STACK, need

need(*TORCH_STACK)  # every test here runs a tiny model

import torch
from pipeline_helpers import LLMRecorder, build, make_image

from vlmplanner.compressors import get_compressor
from vlmplanner.pipeline import wrap

PROMPTS = ["what is in the picture ?", "how many dog are there ?"]


def through_seam(pipeline: Any) -> Any:
    """The same pipeline, with ``none`` run through the seam instead of the model's own path."""
    from vlmplanner.pipeline.runner import VLMPipeline

    plan = dataclasses.replace(pipeline.plan, through_seam=True)
    return VLMPipeline(pipeline.model, pipeline.base_processor, pipeline.compressor, plan)


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    return {family: build(family) for family in ("llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl")}


@pytest.mark.parametrize(("family", "k", "size"), [
    ("llava", 16, (60, 90)),
    ("llava_next", 88, (112, 112)),        # a square image: no padding, so the same layout as HF
    ("llava_onevision", 592, (112, 112)),  # 16 a crop (all of them) x 37; too few features to pool
    ("qwen2_vl", 256, (84, 140)),
    ("qwen2_5_vl", 256, (112, 168)),
])
def test_none_through_the_seam_equals_the_model(family: str, k: int, size: tuple[int, int],
                                               tiny: dict[str, Any]) -> None:
    model = tiny[family]
    native = wrap(model.model, model.processor, "none", k)
    seam = through_seam(native)
    assert seam.seam.compresses_features and not native.seam.compresses_features
    images = [make_image(*size, seed=1), make_image(*size, seed=2)]
    assert native.visual_tokens(images, PROMPTS) == seam.visual_tokens(images, PROMPTS)
    a = native.prefill(images, PROMPTS).logits
    b = seam.prefill(images, PROMPTS).logits
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert native.generate(images, PROMPTS, max_new_tokens=4, do_sample=False) == \
        seam.generate(images, PROMPTS, max_new_tokens=4, do_sample=False)
    seam.close()
    native.close()


def test_qwen_mrope_positions_of_pooled_tokens(tiny: dict[str, Any]) -> None:
    """pool 4x4 -> 2x2 merged tokens sit at the centres of their windows, rounded: rows/cols 1 and 3."""
    model = tiny["qwen2_vl"]
    pipeline = wrap(model.model, model.processor, "pool", 4)
    kwargs = pipeline.prepare([make_image(112, 112)], ["describe it ."])
    with pipeline.seam.session(kwargs):
        position_ids, deltas = model.model.model.get_rope_index(
            kwargs["input_ids"], kwargs["mm_token_type_ids"], image_grid_thw=kwargs["image_grid_thw"],
            attention_mask=kwargs["attention_mask"])
    native = wrap(model.model, model.processor, "none", 256)
    nkw = native.prepare([make_image(112, 112)], ["describe it ."])
    reference, ref_deltas = model.model.model.get_rope_index(
        nkw["input_ids"], nkw["mm_token_type_ids"], image_grid_thw=nkw["image_grid_thw"],
        attention_mask=nkw["attention_mask"])
    image = (kwargs["input_ids"][0] == model.config.image_token_id).nonzero().squeeze(1)
    start = int(image[0])
    got = position_ids[:, 0, image] - start
    assert got.tolist() == [[0, 0, 0, 0], [1, 1, 3, 3], [1, 3, 1, 3]]
    # text after the image is where it would be without compression
    after_native = reference[:, 0, int(nkw["input_ids"].shape[1]) - 3:]
    after = position_ids[:, 0, int(kwargs["input_ids"].shape[1]) - 3:]
    assert torch.equal(after, after_native)
    assert int(deltas[0]) == int(ref_deltas[0]) + 12      # 12 fewer tokens, same last position
    pipeline.close()
    native.close()


def test_recomputed_cls_attention_equals_eager() -> None:
    from vlmplanner.pipeline.vision import run_clip_tower

    tiny = build("llava", vision_config={"num_hidden_layers": 3})
    tower = tiny.model.model.vision_tower
    tower.config._attn_implementation = "eager"
    pixels = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eager = tower(pixels, output_attentions=True, output_hidden_states=True, return_dict=True)
        out = run_clip_tower(tower, pixels, feature_layer=-2, drop_cls=True, cls_layer=-2, want_keys=True)
    expected = eager.attentions[-2][:, :, 0, 1:].mean(dim=1)       # layer -2, [CLS] row, head mean
    torch.testing.assert_close(out.cls_attention, expected, rtol=1e-5, atol=1e-6)
    assert out.keys is not None and out.keys.shape == (2, 16, 16)  # head dim 16 (32 / 2 heads)
    torch.testing.assert_close(out.features, eager.hidden_states[-2][:, 1:])


def test_recomputed_last_token_attention_equals_eager(tiny: dict[str, Any]) -> None:
    """FastV's row at layer K-1, recomputed from q/k with RoPE (and M-RoPE), equals eager attention,
    also for left-padded rows."""
    from vlmplanner.pipeline.inllm import last_token_attention

    for family in ("llava", "qwen2_vl"):
        model = build(family)
        model.model.config._attn_implementation = "eager"
        model.model.model.language_model.config._attn_implementation = "eager"
        pipeline = wrap(model.model, model.processor, "none", 16 if family == "llava" else 256)
        kwargs = pipeline.prepare([make_image(112, 112), make_image(56, 56)], ["describe it .", "what is in it ?"])
        captured: dict[str, Any] = {}
        layer = model.model.model.language_model.layers[1]

        def grab(module: Any, args: Any, kw: dict[str, Any], captured: dict[str, Any] = captured) -> None:
            if "row" not in captured:
                captured["row"] = last_token_attention(module, args[0] if args else kw["hidden_states"],
                                                       kw.get("position_embeddings"), kw.get("attention_mask"))

        handle = layer.register_forward_pre_hook(grab, with_kwargs=True)
        with torch.no_grad():
            out = model.model(**kwargs, output_attentions=True)
        handle.remove()
        expected = out.attentions[1][:, :, -1, :]
        torch.testing.assert_close(captured["row"], expected, rtol=1e-5, atol=1e-6)
        pipeline.close()


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_fastv_keeping_every_token_changes_nothing(family: str, tiny: dict[str, Any]) -> None:
    model = tiny[family]
    size = (112, 112)
    native = wrap(model.model, model.processor, "none", 16 if family == "llava" else 256)
    n = native.visual_tokens([make_image(*size)], ["x"])[0]
    fastv = wrap(model.model, model.processor, get_compressor("fastv", n, prune_layer=1))
    images = [make_image(*size, seed=3), make_image(*size, seed=4)]
    prompts = ["describe it .", "what is in the picture ? yes or no ?"]       # different lengths: padding
    assert fastv.generate(images, prompts, max_new_tokens=5, do_sample=False) == \
        native.generate(images, prompts, max_new_tokens=5, do_sample=False)
    fastv.close()
    native.close()


def test_fastv_prunes_once_and_decodes_with_a_shorter_cache(tiny: dict[str, Any]) -> None:
    model = tiny["llava"]
    pipeline = wrap(model.model, model.processor, "fastv", 3)
    recorder = LLMRecorder(model.model)
    calls: list[int] = []
    handle = model.model.model.language_model.layers[2].register_forward_pre_hook(
        lambda m, a, kw: calls.append(int((a[0] if a else kw["hidden_states"]).shape[1])), with_kwargs=True)
    images = [make_image(60, 60), make_image(60, 60, seed=5)]
    prompts = ["describe it .", "how many cat are there ? two ?"]
    out = pipeline.generate(images, prompts, max_new_tokens=4, do_sample=False, min_new_tokens=4)
    handle.remove()
    recorder.remove()
    full = recorder.prefill
    assert recorder.layers[0] == recorder.layers[1] == full
    assert recorder.layers[2] == full - 16 + 3
    assert calls == [full - 13, 1, 1, 1]       # pruned once; decode steps see one new token each
    assert pipeline.seam.llm_tokens_seen() == [(0, full), (2, full - 13)]
    assert len(out) == 2
    pipeline.close()


def test_batch_equals_its_rows(tiny: dict[str, Any]) -> None:
    for family, name, k in (("llava", "visionzip", 6), ("llava_next", "pool", 20), ("qwen2_vl", "divprune", 3)):
        model = tiny[family]
        pipeline = wrap(model.model, model.processor, name, k)
        images = [make_image(112, 112, seed=7), make_image(112, 112, seed=8)]
        prompts = ["describe it .", "what is in the picture ? is it a cat ?"]
        batch = pipeline.prefill(images, prompts).logits[:, -1]
        for i in range(2):
            single = pipeline.prefill([images[i]], [prompts[i]]).logits[:, -1]
            torch.testing.assert_close(batch[i:i + 1], single, rtol=1e-4, atol=1e-4)
        pipeline.close()


def test_qwen_batches_images_of_different_sizes(tiny: dict[str, Any]) -> None:
    """Pre-LLM: each image has its own grid. FastV: rows that keep different counts run apart."""
    model = tiny["qwen2_vl"]
    images = [make_image(112, 112), make_image(56, 112), make_image(112, 112, seed=1)]
    prompts = ["describe it .", "what is in the picture ?", "yes ?"]
    pool = wrap(model.model, model.processor, "divprune", 2)
    assert pool.visual_tokens(images, prompts) == [2, 2, 2]
    assert len(pool.generate(images, prompts, max_new_tokens=2)) == 3
    pool.close()
    fastv = wrap(model.model, model.processor, "fastv", 2)
    recorder = LLMRecorder(model.model)
    assert len(fastv.generate(images, prompts, max_new_tokens=2)) == 3
    recorder.remove()
    assert recorder.batches[0] + recorder.batches[2] == 3           # two generate calls: 2 rows + 1 row
    fastv.close()


def test_llava_next_layout_of_a_wide_image(tiny: dict[str, Any]) -> None:
    """56x112 -> 1x2 tiles (3 crops); pool keeps 4 per crop; 4 feature rows, each with a newline."""
    from vlmplanner.pipeline.seams import pack_anyres

    model = tiny["llava_next"]
    pipeline = wrap(model.model, model.processor, "pool", 20)
    assert pipeline.visual_tokens([make_image(56, 112)], ["x"]) == [3 * 4 + 4]
    assert len(pipeline.generate([make_image(56, 112)], ["describe it ."], max_new_tokens=2)) == 1
    pipeline.close()
    # pack_anyres order: two 4x4 tiles side by side, pooled to 2x2 each (centres 0.5 and 2.5)
    tiles = torch.arange(8, dtype=torch.float32).view(2, 4, 1)
    centres = torch.tensor([[0.5, 0.5], [0.5, 2.5], [2.5, 0.5], [2.5, 2.5]])
    packed = pack_anyres(tiles, centres.expand(2, 4, 2), (1, 2), (4, 4), (56, 112), torch.tensor([-1.0]))
    assert packed.squeeze(1).tolist() == [0, 1, 4, 5, -1, -1, 2, 3, 6, 7, -1, -1]


def test_close_restores_the_model(tiny: dict[str, Any]) -> None:
    model = tiny["qwen2_vl"]
    before = model.model.model.get_rope_index
    pipeline = wrap(model.model, model.processor, "pool", 4)
    assert "get_rope_index" in vars(model.model.model)
    fastv = wrap(model.model, model.processor, "fastv", 2)
    layers = model.model.model.language_model.layers
    assert layers[2]._forward_pre_hooks
    pipeline.close()
    fastv.close()
    assert "get_rope_index" not in vars(model.model.model) and model.model.model.get_rope_index == before
    assert not layers[2]._forward_pre_hooks


@pytest.mark.parametrize(("family", "name", "k"), [("qwen2_vl", "pool", 4), ("llava", "fastv", 4)])
def test_beam_search(family: str, name: str, k: int, tiny: dict[str, Any]) -> None:
    """generate()'s batch expansion (beams) reaches compressed features, M-RoPE and the FastV hooks."""
    model = tiny[family]
    pipeline = wrap(model.model, model.processor, name, k)
    images = [make_image(112, 112), make_image(112, 112, seed=1)]
    out = pipeline.generate(images, ["describe it .", "what is in the picture ?"], max_new_tokens=3, num_beams=2,
                            do_sample=False)
    assert len(out) == 2
    pipeline.close()


def test_llava_next_padded_images(tiny: dict[str, Any]) -> None:
    """Images that need padding: crops and newline rows as transformers counts them; generation runs."""
    from transformers.image_processing_utils import select_best_resolution

    model = tiny["llava_next"]
    pipeline = wrap(model.model, model.processor, "cls-topk", 15)         # 3 tokens per crop
    side = model.config.vision_config.image_size
    grid = side // model.config.vision_config.patch_size
    for size in [(100, 130), (300, 120), (60, 200), (40, 60)]:
        best = select_best_resolution(list(size), model.processor.image_processor.image_grid_pinpoints)
        _, newlines = model.processor._get_unpadded_features(size[0], size[1], grid, grid, best[0] // side,
                                                             best[1] // side)
        crops = 1 + (best[0] // side) * (best[1] // side)
        assert pipeline.seam.layout(size) == (crops, newlines), size
        assert pipeline.visual_tokens([make_image(*size)], ["x"]) == [3 * crops + newlines]
    out = pipeline.generate([make_image(100, 130), make_image(300, 120)], ["describe it .", "what ?"],
                            max_new_tokens=2)
    assert len(out) == 2
    pipeline.close()


def test_llava_onevision_layout_pooling_and_several_images(tiny: dict[str, Any]) -> None:
    """Crops and newline rows as the processor counts them, pooled grids included; a prompt with two
    images gets each image's base view only (k / 37 + 1 newline), as the model encodes it."""
    from transformers.image_processing_utils import select_best_resolution

    model = tiny["llava_onevision"]
    pipeline = wrap(model.model, model.processor, "divprune", 74)          # 2 tokens per crop
    side = model.config.vision_config.image_size
    grid = side // model.config.vision_config.patch_size
    for size in [(100, 130), (300, 120), (336, 336), (224, 336), (40, 60)]:
        best = select_best_resolution(list(size), model.processor.image_processor.image_grid_pinpoints)
        _, newlines = model.processor._get_unpadded_features(size[0], size[1], grid, grid, best[0] // side,
                                                             best[1] // side)
        crops = 1 + (best[0] // side) * (best[1] // side)
        assert pipeline.seam.layout(size) == (crops, newlines), size
        assert pipeline.visual_tokens([make_image(*size)], ["x"]) == [2 * crops + newlines]
    assert pipeline.seam.layout((336, 336)) == (37, 12)        # 24x24 features pooled to 12x12
    images = [[make_image(100, 130), make_image(336, 336, seed=1)]]
    prompt = ["<image> and <image> : what is in the picture ?"]
    assert pipeline.visual_tokens(images, prompt) == [2 * (2 + 1)]
    assert len(pipeline.generate(images, prompt, max_new_tokens=2)) == 1
    pipeline.close()
