"""Tiny random-weight models, offline: processor → generate, token counts, inputs, components, loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need

need(*TORCH_STACK)  # every test here builds a tiny model

import torch
from family_data import FAMILIES
from PIL import Image

from vlmplanner.errors import ValidationError
from vlmplanner.families import get_family
from vlmplanner.families.llava_next import anyres_layout

#: Image sizes (height, width) whose processor token counts are checked, per family.
SIZES = {
    "llava": [(40, 60), (100, 130), (300, 120)],  # every image is resized: always the same count
    "llava_next": [(112, 112), (40, 60), (100, 130), (56, 112), (300, 310)],
    "qwen2_vl": [(56, 56), (84, 112), (100, 130), (200, 60)],
    "qwen2_5_vl": [(56, 56), (84, 112), (140, 250)],
    # Qwen3-VL: 32 px grid; images below 65,536 pixels are scaled up to it
    "qwen3_vl": [(64, 64), (256, 256), (300, 200), (250, 700)],
    "qwen3_vl_moe": [(96, 128), (500, 300)],
    "qwen3_5": [(64, 64), (300, 200), (250, 700)],
    "qwen3_5_moe": [(96, 128), (500, 300)],
    "gemma3": [(40, 60), (100, 130), (300, 120)],  # resized to the tower's square: always the same count
    "internvl": [(112, 112), (100, 130), (300, 120), (60, 400)],  # 112 px tiles and a thumbnail
    # 56 px tiles, up to 6x6: from 336x336 the tile features are pooled to about 9 tiles' worth
    "llava_onevision": [(56, 56), (40, 60), (112, 224), (168, 168), (336, 336), (100, 330), (300, 90)],
}
#: families whose every image gives the same count
FIXED = ("llava", "gemma3")


def image(height: int, width: int, seed: int = 0) -> Any:
    import numpy as np

    pixels = np.random.RandomState(seed).randint(0, 255, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def image_token_id(config: Any) -> int:
    return int(getattr(config, "image_token_index", None) or config.image_token_id)


def tiny_spec(tiny: Any) -> Any:
    return tiny.family.spec_from_config(tiny.config.to_dict(), checkpoint="tiny/model", source="tiny config")


@pytest.mark.parametrize("model_type", FAMILIES)
def test_processor_output_generates(model_type: str, tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models[model_type]
    assert not tiny.model.training and tiny.family is get_family(model_type)
    inputs = tiny.processor(text=tiny.family.tiny_prompt, images=image(100, 130), return_tensors="pt")
    out = tiny.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    prompt = inputs["input_ids"]
    assert out.shape[0] == 1 and prompt.shape[1] < out.shape[1] <= prompt.shape[1] + 3
    assert torch.equal(out[:, : prompt.shape[1]], prompt)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_processor_placeholders_equal_visual_tokens(model_type: str, tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models[model_type]
    spec = tiny_spec(tiny)
    counts = {}
    for size in SIZES[model_type]:
        inputs = tiny.processor(text=tiny.family.tiny_prompt, images=image(*size), return_tensors="pt")
        counts[size] = int((inputs["input_ids"] == image_token_id(tiny.config)).sum())
        assert counts[size] == tiny.family.visual_tokens(spec, size), size
    if model_type not in FIXED:
        assert len(set(counts.values())) > 1  # the count really depends on the image size


@pytest.mark.parametrize(("model_type", "size"), [
    pytest.param("llava_next", (60, 200), id="llava_next-1x3-tiles"),
    pytest.param("qwen2_vl", (28, 28), id="qwen2_vl-below-min-pixels"),
])
def test_cost_model_counts_like_the_processor_for_odd_shapes(model_type: str, size: tuple[int, int],
                                              tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models[model_type]
    inputs = tiny.processor(text=tiny.family.tiny_prompt, images=image(*size), return_tensors="pt")
    emitted = int((inputs["input_ids"] == image_token_id(tiny.config)).sum())
    assert emitted == tiny.family.visual_tokens(tiny_spec(tiny), size)


def test_anyres_layout_matches_the_processor_for_any_shape(tiny_models: dict[str, Any]) -> None:
    """dummy_inputs counts LLaVA-NeXT tokens with HF's own rule: exact for every aspect ratio."""
    tiny = tiny_models["llava_next"]
    vision = tiny.config.vision_config
    for size in [(60, 200), (200, 60), (30, 300), (500, 90), (57, 57), (113, 56)]:
        inputs = tiny.processor(text=tiny.family.tiny_prompt, images=image(*size), return_tensors="pt")
        tokens, crops = anyres_layout(*size, side=vision.image_size, patch=vision.patch_size,
                                      pinpoints=tiny.config.image_grid_pinpoints)
        assert tokens == int((inputs["input_ids"] == image_token_id(tiny.config)).sum()), size
        assert crops == inputs["pixel_values"].shape[1], size


@pytest.mark.parametrize("model_type", FAMILIES)
def test_dummy_inputs_run_the_tiny_model(model_type: str, tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models[model_type]
    family = tiny.family
    for size in [(100, 130), None]:
        inputs = family.dummy_inputs(tiny.config, image_size=size, text_tokens=7, batch_size=2)
        ids = inputs["input_ids"]
        placeholders = int((ids[0] == image_token_id(tiny.config)).sum())
        # <|vision_start|>, <|vision_end|>; <start_of_image>, <end_of_image>
        extra = 2 if model_type.startswith("qwen") or model_type in ("gemma3", "internvl") else 0
        assert ids.shape == (2, 7 + placeholders + extra)
        assert placeholders == family.visual_tokens(tiny_spec(tiny), size or _default_size(tiny))
        assert all(t.dtype == torch.long for k, t in inputs.items() if k != "pixel_values")
        with torch.no_grad():
            logits = tiny.model(**inputs).logits
        assert logits.shape[:2] == ids.shape and torch.isfinite(logits).all()


def _default_size(tiny: Any) -> tuple[int, int]:
    return tiny.family.reference_image(tiny_spec(tiny))


def test_dummy_inputs_reject_bad_counts(tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models["llava"]
    with pytest.raises(ValidationError) as info:
        tiny.family.dummy_inputs(tiny.config, batch_size=0)
    assert info.value.field == "batch_size"
    with pytest.raises(ValidationError) as info:
        tiny.family.dummy_inputs(tiny.config, image_size=(0, 10))
    assert info.value.field == "image_size"


@pytest.mark.parametrize("model_type", FAMILIES)
def test_components_partition_the_parameters(model_type: str, tiny_models: dict[str, Any]) -> None:
    tiny = tiny_models[model_type]
    parts = tiny.family.components(tiny.model)
    assert set(parts) == {"vision_tower", "projector", "llm_blocks", "lm_head"}
    named = {id(module) for _, module in tiny.model.named_modules()}
    assert all(id(module) in named for module in parts.values())  # real submodules of the model

    def ids(module: Any) -> set[int]:
        return {id(p) for p in module.parameters()}

    tower = ids(parts["vision_tower"])
    if model_type.startswith("qwen"):  # the patch merger sits inside the Qwen ViT module
        assert ids(parts["projector"]) <= tower
        tower -= ids(parts["projector"])
    covered = tower | ids(parts["projector"]) | ids(parts["llm_blocks"]) | ids(parts["lm_head"])
    everything = ids(tiny.model)
    assert covered <= everything and len(everything - covered) <= 1  # LLaVA-NeXT's image_newline
    spec = tiny_spec(tiny)
    llm = sum(p.numel() for p in parts["llm_blocks"].parameters())
    if not spec.llm.tie_word_embeddings:
        llm += sum(p.numel() for p in parts["lm_head"].parameters())
    assert round(llm / 1e9, 12) == pytest.approx(spec.llm.params_b, rel=5e-3)


def test_tiny_config_overrides_merge_into_nested_configs() -> None:
    family = get_family("qwen2_vl")
    config = family.tiny_config(text_config={"num_hidden_layers": 3}, vision_config={"depth": 1})
    assert config.text_config.num_hidden_layers == 3 and config.text_config.hidden_size == 32
    assert config.vision_config.depth == 1
    tiny = family.build_tiny(seed=1, dtype=torch.float64, text_config={"num_hidden_layers": 1})
    assert tiny.config.text_config.num_hidden_layers == 1
    assert next(tiny.model.parameters()).dtype == torch.float64


@pytest.mark.parametrize("model_type", FAMILIES)
def test_load_reads_a_saved_checkpoint(model_type: str, tiny_models: dict[str, Any], tmp_path: Path) -> None:
    tiny = tiny_models[model_type]
    tiny.model.save_pretrained(tmp_path)
    tiny.processor.save_pretrained(tmp_path)
    model, processor = tiny.family.load(tmp_path)
    inputs = processor(text=tiny.family.tiny_prompt, images=image(84, 112), return_tensors="pt")
    with torch.no_grad():   # the same weights: equal up to the experts kernel's summation order (Qwen3.5-MoE)
        torch.testing.assert_close(model(**inputs).logits, tiny.model(**inputs).logits, rtol=0, atol=1e-6)


def test_build_tiny_is_seeded() -> None:
    family = get_family("llava")
    a, b = family.build_tiny(seed=3), family.build_tiny(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
