"""config.json values outside sane limits are refused, naming the key and the value (no torch)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from family_data import SHIPPED

from vlmplanner.errors import ValidationError
from vlmplanner.families import spec_from_config
from vlmplanner.families._config import LIMITS

CONFIGS = dict(SHIPPED)
LLAVA = CONFIGS["llava-hf/llava-1.5-7b-hf"]
NEXT = CONFIGS["llava-hf/llava-v1.6-mistral-7b-hf"]
QWEN2 = CONFIGS["Qwen/Qwen2-VL-2B-Instruct"]
QWEN25 = CONFIGS["Qwen/Qwen2.5-VL-3B-Instruct"]


def changed(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(config)
    *parents, key = path.split(".")
    target = out
    for part in parents:
        target = target[part]
    target[key] = value
    return out


BAD: list[tuple[str, dict[str, Any], str, Any]] = [
    # (id, config, field, value)
    ("layers-1e12", LLAVA, "text_config.num_hidden_layers", 10**12),
    ("layers-float-1e30", LLAVA, "text_config.num_hidden_layers", 1e30),
    ("layers-inf", LLAVA, "text_config.num_hidden_layers", math.inf),
    ("layers-nan", LLAVA, "text_config.num_hidden_layers", math.nan),
    ("layers-negative", LLAVA, "text_config.num_hidden_layers", -2),
    ("layers-bool", LLAVA, "text_config.num_hidden_layers", True),
    ("hidden-zero", LLAVA, "text_config.hidden_size", 0),
    ("hidden-absurd", LLAVA, "text_config.hidden_size", 4096 * 1024),
    ("vocab-absurd", LLAVA, "text_config.vocab_size", 10**9),
    ("heads-absurd", LLAVA, "text_config.num_attention_heads", 10**5),
    ("vision-image-zero", LLAVA, "vision_config.image_size", 0),
    ("vision-image-absurd", LLAVA, "vision_config.image_size", 10**6),
    ("vision-patch-fraction", LLAVA, "vision_config.patch_size", 14.5),
    ("vision-layers-absurd", LLAVA, "vision_config.num_hidden_layers", 5000),
    ("qwen-layers-1e12", QWEN2, "num_hidden_layers", 10**12),
    ("qwen-depth-absurd", QWEN2, "vision_config.depth", 10**6),
    ("qwen-mlp-ratio-absurd", QWEN2, "vision_config.mlp_ratio", 1e9),
    ("qwen-mlp-ratio-inf", QWEN2, "vision_config.mlp_ratio", math.inf),
    ("qwen-mlp-ratio-bool", QWEN2, "vision_config.mlp_ratio", True),
    ("qwen-merge-absurd", QWEN2, "vision_config.spatial_merge_size", 1000),
    ("qwen25-intermediate-absurd", QWEN25, "vision_config.intermediate_size", 10**8),
]


@pytest.mark.parametrize(("config", "field", "value"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_values_outside_the_limits_name_the_key(config: dict[str, Any], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_config(changed(config, field, value), checkpoint="x/y", source="t")
    assert info.value.field == field
    assert info.value.value is value or info.value.value == value
    assert f"config.json {field} " in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("key", ["num_hidden_layers", "hidden_size", "vocab_size"])
def test_the_limit_itself_is_accepted(key: str) -> None:
    limit = int(LIMITS[key])
    config = changed(LLAVA, f"text_config.{key}", limit)
    if key == "hidden_size":                    # 128-wide heads, as large models have
        config["text_config"].update(num_attention_heads=limit // 128, num_key_value_heads=limit // 128)
    spec = spec_from_config(config, checkpoint="x/y", source="t")
    assert getattr(spec.llm, {"num_hidden_layers": "num_layers"}.get(key, key)) == limit
    with pytest.raises(ValidationError, match=f"is {limit + 1}, above the {limit} "):
        spec_from_config(changed(config, f"text_config.{key}", limit + 1), checkpoint="x/y", source="t")


def test_limits_are_far_above_every_shipped_model() -> None:
    for checkpoint, config in SHIPPED:
        spec = spec_from_config(config, checkpoint=checkpoint, source="t")
        assert spec.llm.num_layers * 4 <= LIMITS["num_hidden_layers"]
        assert spec.llm.hidden_size * 4 <= LIMITS["hidden_size"]
        assert spec.llm.vocab_size * 4 <= LIMITS["vocab_size"]
        assert spec.vision.image_size * 4 <= LIMITS["image_size"]


@pytest.mark.parametrize("pinpoints", [
    [[336, 10**6]], [[336, True]], [[336.5, 672]], [[0, 672]], [[336, 672, 1008]], [[336, 672]] * 2000, "336x672",
])
def test_llava_next_pinpoints_outside_the_limits(pinpoints: Any) -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_config(changed(NEXT, "image_grid_pinpoints", pinpoints), checkpoint="x/y", source="t")
    assert info.value.field == "image_grid_pinpoints" and "\n" not in info.value.message
