"""LLaVA-OneVision: config.json to spec, bad fields named with their rule, the processor's own
tile, pooling and token counts, the seam's newline rows, and analytic against traced FLOPs at full
size.

No verbatim llava-hf LLaVA-OneVision config.json could be found (catalog/hf_configs/SOURCES.csv
records what was), so the full-size configs here are test data in the released layout:
llava-onevision-qwen2-0.5b-ov-hf's numbers (Qwen2-0.5B LLM, SigLIP-so400m's 26 used layers at
384 px) and the 7B's (Qwen2-7B; its hub commit diff shows these widths). Nothing from them enters
the catalog.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _extras import TORCH_STACK, need
from family_data import assert_components_agree, changed

from vlmplanner.errors import VlmPlannerError
from vlmplanner.families import get_family, spec_from_config
from vlmplanner.families.geometry import (
    ONEVISION_PINPOINTS,
    anyres_grid,
    anyres_layout,
    pooled_grid,
)

SIGLIP = {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
          "num_hidden_layers": 26, "num_attention_heads": 16, "image_size": 384, "patch_size": 14,
          "vision_use_head": False}
SMALL: dict[str, Any] = {
    "model_type": "llava_onevision", "image_token_index": 151646, "video_token_index": 151647,
    "projector_hidden_act": "gelu", "vision_feature_layer": -1, "vision_feature_select_strategy": "full",
    "vision_aspect_ratio": "anyres_max_9", "use_image_newline_parameter": True, "tie_word_embeddings": True,
    "image_grid_pinpoints": [list(p) for p in ONEVISION_PINPOINTS],
    "text_config": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 152000,
                    "tie_word_embeddings": True},
    "vision_config": SIGLIP,
}
LARGE: dict[str, Any] = {
    **SMALL, "tie_word_embeddings": False,
    "text_config": {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152128,
                    "rope_theta": 1000000.0},
}


def _spec(config: dict[str, Any], checkpoint: str = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf") -> Any:
    return spec_from_config(config, checkpoint=checkpoint, source="test")


def test_the_released_layout_becomes_a_spec() -> None:
    spec = _spec(SMALL)
    assert (spec.llm.num_layers, spec.llm.hidden_size, spec.llm.tie_word_embeddings) == (24, 896, True)
    assert (spec.vision.image_size, spec.vision.patch_size, spec.vision.num_layers) == (384, 14, 26)
    # the largest pinpoint, 2304x2304: 36 tiles (a 162x162 grid pooled to 81x81) and the base view
    assert spec.native_visual_tokens == 729 + 81 * 81 + 81 == 7371 and spec.projector == "mlp2x_gelu"
    assert spec.llm.params_b == 0.494            # Qwen2-0.5B: tied, q/k/v biases
    family = get_family("llava_onevision")
    assert family.reference_image(spec) == (2304, 2304) and family.llm_has_qkv_bias(spec)
    assert family.max_crops(SMALL, 384) == 37
    low, high = family.native_token_range(spec)
    assert low == 729 + 27 * 27 + 27 and high > spec.native_visual_tokens   # 2x5 tiles: 54x135, not pooled
    assert _spec(LARGE, "llava-hf/llava-onevision-qwen2-7b-ov-hf").llm.params_b == 7.62


@pytest.mark.parametrize(("config", "field", "words"), [
    (changed(SMALL, None, vision_aspect_ratio="anyres_max_4"), "vision_aspect_ratio", "anyres_max_9"),
    (changed(SMALL, None, vision_aspect_ratio="anyres"), "vision_aspect_ratio", "'anyres_max_N'"),
    (changed(SMALL, None, vision_feature_select_strategy="default"), "vision_feature_select_strategy", "no CLS"),
    (changed(SMALL, None, image_grid_pinpoints=[[384, 0]]), "image_grid_pinpoints", "positive integers"),
    (changed(SMALL, "vision_config", model_type="clip_vision_model"), "vision_config.model_type", "siglip"),
    (changed(SMALL, "vision_config", patch_size=400), "vision_config.patch_size", "exceeds image_size"),
    (changed(SMALL, "text_config", num_key_value_heads=3), "text_config.num_key_value_heads", "must divide"),
])
def test_a_bad_field_is_named_with_its_rule(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        _spec(config)
    assert info.value.field == field and words in info.value.message, info.value.message


def test_the_pooling_rule() -> None:
    """Up to 1.1 x nine tiles' side the grid is kept; beyond, both sides are divided by the ratio."""
    assert pooled_grid(81, 81, grid=27, max_tiles=9) == (81, 81)
    assert pooled_grid(54, 135, grid=27, max_tiles=9) == (54, 135)          # ratio 1.054
    assert pooled_grid(162, 162, grid=27, max_tiles=9) == (81, 81)          # ratio 2
    assert pooled_grid(54, 162, grid=27, max_tiles=9) == (46, 140)          # ratio 1.155


SIZES = [(384, 384), (768, 768), (1152, 1152), (768, 1920), (720, 1280), (1080, 1920), (2304, 2304),
         (300, 2000), (2000, 300), (50, 60), (3000, 4000)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_visual_tokens_equal_the_processors(size: tuple[int, int]) -> None:
    """LlavaOnevisionProcessor with the released settings (384 px tiles, the 36 default pinpoints,
    729 tokens a crop, anyres_max_9) on a real image of each size."""
    need(*TORCH_STACK)
    from PIL import Image

    family, spec = get_family("llava_onevision"), _spec(SMALL)
    config = family.hf_config(SMALL)
    tokenizer = family._tokenizer()  # type: ignore[attr-defined]
    processor = family._processor(config, tokenizer)  # type: ignore[attr-defined]
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (*size, 3), dtype=np.uint8))
    out = processor(text=["<image> describe it"], images=[image], return_tensors="pt")
    emitted = int((out["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum())
    assert emitted == family.visual_tokens(spec, size)
    assert out["pixel_values"].shape[1] == family.vision_profile(spec, size).crops


def test_the_seam_packs_into_the_pooled_rows() -> None:
    """A compressor's tokens follow the rows the model's own pooling keeps: k / crops a crop and one
    newline per pooled row (81 at the reference image, not the 162 of the un-pooled grid)."""
    rows, cols, crops = anyres_grid(2304, 2304, side=384, patch=14, pinpoints=ONEVISION_PINPOINTS, max_tiles=9)
    assert (rows, cols, crops) == (81, 81, 37)
    assert get_family("llava_onevision").vision_profile(_spec(SMALL), None).row_tokens == 81
    tokens, _ = anyres_layout(720, 1280, side=384, patch=14, pinpoints=ONEVISION_PINPOINTS, cls_tokens=0,
                              strategy="full", max_tiles=9)
    assert tokens == 5967


def test_k_is_divided_over_the_most_crops() -> None:
    from vlmplanner.compressors import compressor_card
    from vlmplanner.errors import InvalidTokenCountError, ValidationError
    from vlmplanner.pipeline.resolve import fit_tokens

    spec = _spec(SMALL)
    fit = fit_tokens(compressor_card("divprune"), spec, 370)
    assert (fit.compressor_tokens, fit.crops, fit.grid) == (10, 37, (27, 27))
    with pytest.raises(InvalidTokenCountError) as info:
        fit_tokens(compressor_card("divprune"), spec, 64)
    assert "multiple of 37" in info.value.message
    with pytest.raises(ValidationError) as refused:      # SigLIP has no [CLS] attention to rank by
        fit_tokens(compressor_card("visionzip"), spec, 370)
    assert "cls_attention" in refused.value.message


def test_the_cost_model_counts_the_newline_rows_of_a_compressed_image() -> None:
    """A pre-LLM compressor's k reach the LLM with the 81 row newlines; FastV keeps k of the native."""
    from vlmplanner.compressors import compressor_card
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import Workload, build

    spec = _spec(LARGE, "llava-hf/llava-onevision-qwen2-7b-ov-hf")
    kept = breakdown(spec, compressor_card("divprune").spec(), 370, build(Workload, text_tokens=50))
    assert any("(370 + 81)·1 = 501 tokens" in note for note in kept.notes), kept.notes
    llm = spec.llm
    # 2·(matmul params)·T + the attention's T² term, T = 50 + 370 + 81
    t = 501
    per_token = 2 * (2 * llm.hidden_size * llm.q_width + 2 * llm.hidden_size * llm.kv_width
                     + 3 * llm.hidden_size * llm.intermediate_size)
    expected = llm.num_layers * (t * per_token + 4 * llm.q_width * t * t)
    assert kept.flops["llm_blocks"] == pytest.approx(expected, rel=1e-3)


@pytest.fixture(scope="module")
def targets() -> dict[str, Any]:
    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget

    return {name: ProfileTarget.from_config(config, name=name, source="test layout")
            for name, config in [("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", SMALL),
                                 ("llava-hf/llava-onevision-qwen2-7b-ov-hf", LARGE)]}


@pytest.mark.parametrize(("checkpoint", "tokens", "compressor", "image_size"), [
    ("llava-hf/llava-onevision-qwen2-7b-ov-hf", None, "none", None),          # 37 crops, pooled to 81x81
    ("llava-hf/llava-onevision-qwen2-7b-ov-hf", None, "none", (720, 1280)),   # 3x4 tiles, un-padded
    ("llava-hf/llava-onevision-qwen2-7b-ov-hf", 592, "none", None),           # 16 a crop: the features path
    ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", 370, "divprune", None),     # a compressor, 10 a crop
    ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", None, "none", (384, 384)),  # one tile
])
def test_analytic_and_traced_flops_agree_at_full_size(targets: dict[str, Any], checkpoint: str, tokens: int | None,
                                                      compressor: str, image_size: tuple[int, int] | None) -> None:
    from vlmplanner.profiling import count_flops

    target = targets[checkpoint]
    analytic = count_flops(target, tokens, method="analytic", compressor=compressor, image_size=image_size)
    traced = count_flops(target, tokens, method="traced", compressor=compressor, image_size=image_size)
    assert_components_agree(analytic, traced, skip=("compressor",))   # its own formulas: docs/cost-model.md
    assert traced.visual_tokens == analytic.visual_tokens
    llm = target.spec.llm
    # a traced decode step attends over T + 1 positions; transformers before 5.24 also computes the
    # new position's rotary frequencies as a matmul (head_dim FLOPs)
    assert traced.flops["decode_step"] - analytic.flops["decode_step"] - 4 * llm.q_width * llm.num_layers in (
        0, llm.head_dim)
