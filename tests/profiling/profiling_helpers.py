"""Shared constants and helpers of the profiling tests (imported as a plain module)."""

from __future__ import annotations

from typing import Any

from vlmplanner.families import list_families

#: Full-size checkpoints whose config.json ships in catalog/hf_configs, one per family (the other
#: shipped ones, llava-1.5-13b, llava-v1.6-vicuna-7b and Qwen2.5-VL-3B, agree the same way; each
#: count takes 2-4 s on the 2-core CI machine, so the suite counts one per family).
SHIPPED_VLMS = (
    "llava-hf/llava-1.5-7b-hf",
    "llava-hf/llava-v1.6-mistral-7b-hf",
    "Qwen/Qwen2-VL-2B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct",
)
#: every family with an adapter (the registry is the one list)
FAMILIES = tuple(list_families())


def small_llava() -> Any:
    """A LLaVA big enough for token count to dominate CPU prefill time: a 336 px / patch 14 CLIP
    tower (576 visual tokens) of one 32-wide layer, and a 256-wide, 4-layer LLM (~3.4 M parameters
    in the blocks). At 576 visual tokens the LLM does ~20x the FLOPs it does at 16."""
    from vlmplanner.families import get_family

    return get_family("llava").build_tiny(
        seed=1,
        vision_config={"image_size": 336, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1},
        text_config={"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
                     "num_attention_heads": 8, "num_key_value_heads": 8},
    )


def within(a: float, b: float, rel: float) -> bool:
    """|a - b| <= rel * max(|a|, |b|) (and equal zeros)."""
    return abs(a - b) <= rel * max(abs(a), abs(b))
