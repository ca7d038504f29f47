"""Qwen3-VL and Qwen3-VL-MoE: bad config.json fields are named, MoE is priced active vs total,
DeepStack reaches the cost model, and the in-LLM compressors are refused with the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from family_data import HF_CONFIGS, changed

from vlmplanner.errors import VlmPlannerError
from vlmplanner.families import get_family, spec_from_config

DENSE = json.loads((HF_CONFIGS / "Qwen" / "Qwen3-VL-8B-Instruct" / "config.json").read_text())
MOE = json.loads((HF_CONFIGS / "Qwen" / "Qwen3-VL-30B-A3B-Instruct" / "config.json").read_text())


@pytest.mark.parametrize(("config", "field", "words"), [
    (changed(DENSE, "vision_config", out_hidden_size=3584), "vision_config.out_hidden_size", "must equal"),
    (changed(DENSE, "vision_config", deepstack_visual_indexes=[8, 16, 40]), "vision_config.deepstack_visual_indexes",
     "below depth 27"),
    (changed(DENSE, "vision_config", num_position_embeddings=2000), "vision_config.num_position_embeddings",
     "square"),
    (changed(DENSE, "text_config", head_dim=0), "text_config.head_dim", "positive integer"),
    (changed(DENSE, "text_config", attention_bias=True), "text_config.attention_bias", "no biases"),
    (changed(MOE, "text_config", moe_intermediate_size=None), "text_config.moe_intermediate_size", "has no"),
    (changed(MOE, "text_config", num_experts_per_tok=200), "text_config.num_experts_per_tok", "exceeds"),
    (changed(MOE, "text_config", mlp_only_layers=[48]), "text_config.mlp_only_layers", "below"),
    (changed(MOE, "text_config", mlp_only_layers=list(range(48))), "text_config.decoder_sparse_step", "no layer"),
    (changed(MOE, "text_config", num_experts=10 ** 9), "text_config.num_experts", "above"),
])
def test_a_bad_field_is_named_with_its_rule(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        spec_from_config(config, checkpoint="x/y", source="test")
    assert info.value.field == field and words in info.value.message, info.value.message


def test_a_transformers_5_resave_of_the_experts_count_is_read() -> None:
    text = dict(MOE["text_config"])
    text["num_local_experts"] = text.pop("num_experts")
    spec = spec_from_config({**MOE, "text_config": text}, checkpoint="x/y", source="test")
    assert spec.llm.moe is not None and spec.llm.moe.num_experts == 128


def test_moe_compute_follows_the_active_experts_and_memory_all_of_them() -> None:
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import CompressorSpec, Workload

    spec = spec_from_config(MOE, checkpoint="Qwen/Qwen3-VL-30B-A3B-Instruct", source="test")
    moe = spec.llm.moe
    assert moe is not None and (moe.num_experts, moe.experts_per_token, moe.layers) == (128, 8, 48)
    none = CompressorSpec(name="none", display_name="none", kind="pre-llm", training="training-free")
    cost = breakdown(spec, none, spec.native_visual_tokens, Workload(text_tokens=50, output_tokens=0))
    llm = spec.llm
    assert cost.params["llm"] == pytest.approx(30.5e9, rel=0.01)   # every expert is held in memory
    # per token: attention projections, 8 experts of 768 and a 128-way router in each of 48 layers, lm_head
    active = llm.num_layers * (2 * llm.hidden_size * (llm.q_width + llm.kv_width) + 8 * 3 * llm.hidden_size * 768
                               + llm.hidden_size * 128)
    tokens = 50 + spec.native_visual_tokens
    linear = 2 * tokens * active
    attention = 4 * llm.q_width * tokens * tokens * llm.num_layers
    assert cost.flops["llm_blocks"] == pytest.approx(linear + attention, rel=1e-9)
    assert active < 3.5e9 < 30e9                                  # "A3B": about 3 B active


def test_deepstack_mergers_are_charged_to_the_vision_tower() -> None:
    with_three = spec_from_config(DENSE, checkpoint="x/y", source="test")
    without = spec_from_config(changed(DENSE, "vision_config", deepstack_visual_indexes=[]), checkpoint="x/y",
                               source="test")
    family = get_family("qwen3_vl")
    a, b = family.vision_profile(with_three, None), family.vision_profile(without, None)
    merged = 1152 * 4
    assert a.flops - b.flops == 3 * 2 * a.projected * (merged * merged + merged * 4096)
    assert with_three.vision.deepstack_layers == 3 and without.vision.deepstack_layers == 0


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_vl_moe"])
def test_in_llm_compressors_are_refused_with_the_reason(model_type: str) -> None:
    from vlmplanner.compressors import compressor_card

    card = compressor_card("fastv")
    assert not card.supports(model_type)
    assert compressor_card("divprune").supports(model_type) and compressor_card("downsample").supports(model_type)


def test_one_layer_of_each_kind_counts_what_every_layer_counts_on_a_mixed_moe() -> None:
    """Dense layers among sparse ones are a second kind: layers 0-1 are traced, 46 are counted."""
    from _extras import TORCH_STACK, need

    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget, count_flops

    config = changed(MOE, "text_config", mlp_only_layers=[1, 30])
    target = ProfileTarget.from_config(config, name="x/mixed-moe", source="test")
    once = count_flops(target, method="traced")
    every = count_flops(target, method="traced", every_layer=True)
    assert once.flops == every.flops
    assert any("46 of the LLM's 48 decoder layers were not run" in note for note in once.notes)
