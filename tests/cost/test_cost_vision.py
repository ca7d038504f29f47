"""Visual-token counts and vision-tower geometry per family."""

from __future__ import annotations

import pytest

from vlmplanner.cost import breakdown, visual_tokens_per_image
from vlmplanner.cost.vision import vision_profile
from vlmplanner.families.vision import clip_crop_flops
from vlmplanner.schemas import CompressorSpec, ModelSpec, Workload
from vlmplanner.store.shipped import ShippedCatalog


def test_default_image_gives_the_catalog_count_for_every_shipped_model(shipped: ShippedCatalog) -> None:
    for model in shipped.models:
        assert visual_tokens_per_image(model, None) == model.native_visual_tokens, model.checkpoint


def test_qwen2_vl_448_gives_256_tokens(models: dict[str, ModelSpec]) -> None:
    model = models["Qwen/Qwen2-VL-7B-Instruct"]
    assert visual_tokens_per_image(model, (448, 448)) == 256
    assert visual_tokens_per_image(model, (450, 440)) == 256  # rounded to multiples of 28
    assert visual_tokens_per_image(model, (336, 448)) == 192  # 24 x 32 patches / 4
    assert visual_tokens_per_image(model, (1008, 1008)) == 1296


def test_llava_next_default_is_five_crops(models: dict[str, ModelSpec],
                                          compressors: dict[str, CompressorSpec]) -> None:
    model = models["llava-hf/llava-v1.6-vicuna-7b-hf"]
    profile = vision_profile(model, None)
    assert profile.crops == 5
    assert profile.native == 2928 == 576 + 48 * 48 + 48
    assert profile.projected == 5 * 576
    assert profile.flops == 5 * clip_crop_flops(24, 14, 24, 1024, 4096)
    notes = breakdown(model, compressors["none"], 64, Workload()).notes
    assert any("5 crops" in n and "672x672" in n for n in notes)


@pytest.mark.parametrize(
    ("image", "crops", "tokens"),
    [
        ((672, 672), 5, 2928),
        ((480, 640), 5, 576 + 36 * 48 + 36),  # 2340: rows unpadded to 36, as HF does
        ((336, 336), 3, 576 + 24 * 24 + 24),  # HF picks the 1x2 pinpoint, then unpads to 24x24
        ((336, 672), 3, 576 + 24 * 48 + 24),
        ((336, 1008), 4, None),  # a 1x3 pinpoint for a wide image
        ((2000, 3000), 5, None),
    ],
)
def test_llava_next_crops_for_an_image_size(models: dict[str, ModelSpec], image: tuple[int, int],
                                            crops: int, tokens: int | None) -> None:
    profile = vision_profile(models["llava-hf/llava-v1.6-mistral-7b-hf"], image)
    assert profile.crops == crops
    if tokens is not None:
        assert profile.native == tokens


def test_paper_grid_models_are_single_crop(shipped: ShippedCatalog) -> None:
    for model in shipped.models:
        if model.projector == "tokenpacker":
            profile = vision_profile(model, None)
            assert profile.crops == 1 and profile.native == 576
            assert visual_tokens_per_image(model, (672, 672)) == 576


def test_llava_resizes_every_image(llava7b: ModelSpec) -> None:
    assert visual_tokens_per_image(llava7b, (1024, 768)) == 576
    assert vision_profile(llava7b, (1024, 768)).flops == vision_profile(llava7b, None).flops


def test_qwen25_window_attention_matches_the_simple_formula_on_whole_windows(
        models: dict[str, ModelSpec]) -> None:
    """At 448x448 (32x32 patches, whole 8x8 windows) windowed attention is 4·P·64·h per layer."""
    model = models["Qwen/Qwen2.5-VL-7B-Instruct"]
    P, h, i = 1024, 1280, 3420
    expected = (32 * (8 * P * h * h + 6 * P * h * i)  # projections, gated MLP
                + 4 * 4 * P * P * h  # 4 full-attention layers (7, 15, 23, 31)
                + 28 * 4 * P * 64 * h  # 28 windowed layers
                + 2 * P * (3 * 2 * 14 * 14) * h)  # patch embedding, temporal patch 2
    assert vision_profile(model, (448, 448)).flops == expected


def test_qwen2_vl_vision_tower_by_hand(models: dict[str, ModelSpec]) -> None:
    P, h, i = 1024, 1280, 5120
    expected = 32 * (8 * P * h * h + 4 * P * P * h + 4 * P * h * i) + 2 * P * (3 * 2 * 14 * 14) * h
    assert vision_profile(models["Qwen/Qwen2-VL-2B-Instruct"], None).flops == expected


def test_vision_cost_grows_with_images(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    one = breakdown(llava7b, compressors["none"], 64, Workload(images_per_request=1))
    three = breakdown(llava7b, compressors["none"], 64, Workload(images_per_request=3))
    assert three.flops["vision_tower"] == 3 * one.flops["vision_tower"]
    assert three.flops["projector"] == 3 * one.flops["projector"]
    assert three.flops["llm_blocks"] > one.flops["llm_blocks"]
