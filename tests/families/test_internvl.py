"""InternVL (``-hf`` checkpoints): config.json to spec, bad fields named with their rule, the
processor's own tile and token counts, and analytic against traced FLOPs at full size.

No verbatim InternVL3 ``-hf`` config.json could be found (docs/families.md), so the full-size
configs here are test data in the released layout: InternVL3-1B-hf's numbers (Qwen2.5-0.5B LLM,
InternViT-300M at 448 px) and InternVL3-38B-hf's (Qwen2.5-32B, InternViT-6B), as transformers'
conversion script writes them. Nothing from them enters the catalog.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _extras import TORCH_STACK, need
from family_data import assert_components_agree, changed

from vlmplanner.errors import VlmPlannerError
from vlmplanner.families import get_family, spec_from_config
from vlmplanner.families.geometry import tile_grid, tiled_views

VISION_300M = {"model_type": "internvl_vision", "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
               "intermediate_size": 4096, "image_size": [448, 448], "patch_size": [14, 14], "attention_bias": True,
               "norm_type": "layer_norm", "use_mean_pooling": True, "use_qk_norm": False}
SMALL: dict[str, Any] = {
    "model_type": "internvl", "downsample_ratio": 0.5, "image_seq_length": 256, "image_token_id": 151667,
    "projector_hidden_act": "gelu", "vision_feature_layer": -1, "vision_feature_select_strategy": "default",
    "text_config": {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151674},
    "vision_config": VISION_300M,
}
LARGE: dict[str, Any] = {
    **SMALL, "tie_word_embeddings": False,
    "text_config": {"model_type": "qwen2", "hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
                    "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 151674},
    "vision_config": {**VISION_300M, "hidden_size": 3200, "num_hidden_layers": 45, "num_attention_heads": 25,
                      "intermediate_size": 12800, "attention_bias": False, "norm_type": "rms_norm",
                      "use_qk_norm": True},
}


def _spec(config: dict[str, Any], checkpoint: str = "OpenGVLab/InternVL3-1B-hf") -> Any:
    return spec_from_config(config, checkpoint=checkpoint, source="test")


def test_the_released_layout_becomes_a_spec() -> None:
    spec = _spec(SMALL)
    assert (spec.llm.num_layers, spec.llm.hidden_size, spec.llm.head_dim, spec.llm.tie_word_embeddings) == (24, 896, 64, True)
    assert (spec.vision.image_size, spec.vision.patch_size, spec.vision.spatial_merge_size) == (448, 14, 2)
    assert spec.native_visual_tokens == 13 * 256 and spec.projector == "pixel_shuffle_mlp"
    assert spec.llm.params_b == 0.494          # Qwen2.5-0.5B, tied, q/k/v biases
    family = get_family("internvl")
    assert family.llm_has_qkv_bias(spec) and not family.llm_has_qk_norm(spec)
    large = _spec(LARGE, "OpenGVLab/InternVL3-38B-hf")
    assert not large.llm.tie_word_embeddings and large.llm.params_b == 32.8


@pytest.mark.parametrize(("config", "field", "words"), [
    (changed(SMALL, None, downsample_ratio=0.3), "downsample_ratio", "1/n"),
    (changed(SMALL, None, downsample_ratio=0.0), "downsample_ratio", "positive number"),
    (changed(SMALL, None, image_seq_length=64), "image_seq_length", "must be"),
    (changed(SMALL, None, image_seq_length=0), "image_seq_length", "positive integer"),
    (changed(SMALL, None, vision_feature_select_strategy="full"), "vision_feature_select_strategy", "default"),
    (changed(SMALL, "vision_config", image_size=[448, 336]), "vision_config.image_size", "square"),
    (changed(SMALL, "vision_config", model_type="siglip_vision_model"), "vision_config.model_type", "internvl_vision"),
    (changed(SMALL, "text_config", model_type="internlm2"), "text_config.model_type", "supports language models"),
    (changed(SMALL, "text_config", num_key_value_heads=3), "text_config.num_key_value_heads", "must divide"),
])
def test_a_bad_field_is_named_with_its_rule(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        _spec(config)
    assert info.value.field == field and words in info.value.message, info.value.message


SIZES = [(448, 448), (200, 300), (720, 1280), (1080, 1920), (300, 2000), (2000, 300), (1344, 1792), (50, 60)]


def test_the_tile_grid_follows_the_processor() -> None:
    need(*TORCH_STACK)
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

    for height, width in [*SIZES, (448, 896), (896, 448), (1000, 1000), (333, 777)]:
        assert tile_grid(height, width, tile=448, min_tiles=1, max_tiles=12) == \
            tuple(get_optimal_tiled_canvas((height, width), (448, 448), 1, 12)), (height, width)


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_visual_tokens_equal_the_processors(size: tuple[int, int]) -> None:
    """InternVLProcessor with the released preprocessor settings (448 px tiles, 1-12 of them,
    crop_to_patches on, as the processor's call defaults) on a real image of each size."""
    need(*TORCH_STACK)
    from PIL import Image

    from vlmplanner import compat

    family, spec = get_family("internvl"), _spec(SMALL)
    image_processor = compat.transformers_class("GotOcr2ImageProcessorPil")(
        size={"height": 448, "width": 448}, crop_to_patches=False, min_patches=1, max_patches=12,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    tokenizer = family._tokenizer()  # type: ignore[attr-defined]
    processor = compat.image_only_processor_class(compat.transformers_class("InternVLProcessor"))(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_length=256)
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (*size, 3), dtype=np.uint8))
    out = processor(text=["<IMG_CONTEXT> describe it"], images=[image], return_tensors="pt")
    image_id = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert int((out["input_ids"] == image_id).sum()) == family.visual_tokens(spec, size)
    assert out["pixel_values"].shape[0] == tiled_views(*size, tile=448, min_tiles=1, max_tiles=12)


def test_k_is_divided_over_the_most_views() -> None:
    from vlmplanner.compressors import compressor_card
    from vlmplanner.errors import InvalidTokenCountError
    from vlmplanner.pipeline.resolve import fit_tokens

    spec = _spec(SMALL)
    fit = fit_tokens(compressor_card("divprune"), spec, 130)
    assert (fit.compressor_tokens, fit.crops, fit.grid) == (10, 13, (16, 16))
    with pytest.raises(InvalidTokenCountError) as info:
        fit_tokens(compressor_card("divprune"), spec, 64)
    assert "multiple of 13" in info.value.message and "52 or 65" in info.value.message


@pytest.fixture(scope="module")
def targets() -> dict[str, Any]:
    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget

    return {name: ProfileTarget.from_config(config, name=name, source="test layout")
            for name, config in [("OpenGVLab/InternVL3-1B-hf", SMALL), ("OpenGVLab/InternVL3-38B-hf", LARGE)]}


@pytest.mark.parametrize(("checkpoint", "tokens", "image_size"), [
    ("OpenGVLab/InternVL3-1B-hf", None, None),            # the reference image: 12 tiles and a thumbnail
    ("OpenGVLab/InternVL3-1B-hf", None, (720, 1280)),     # 3x3 tiles and a thumbnail
    ("OpenGVLab/InternVL3-1B-hf", 130, None),             # 10 tokens per view: the features path
    ("OpenGVLab/InternVL3-38B-hf", None, (448, 448)),     # one tile
])
def test_analytic_and_traced_flops_agree_at_full_size(targets: dict[str, Any], checkpoint: str, tokens: int | None,
                                                      image_size: tuple[int, int] | None) -> None:
    from vlmplanner.profiling import count_flops

    target = targets[checkpoint]
    analytic = count_flops(target, tokens, method="analytic", image_size=image_size)
    traced = count_flops(target, tokens, method="traced", image_size=image_size)
    assert_components_agree(analytic, traced)
    assert traced.visual_tokens == analytic.visual_tokens
    llm = target.spec.llm
    # a traced decode step attends over T + 1 positions; transformers before 5.24 also computes the
    # new position's rotary frequencies as a matmul (head_dim FLOPs)
    assert traced.flops["decode_step"] - analytic.flops["decode_step"] - 4 * llm.q_width * llm.num_layers in (
        0, llm.head_dim)
