"""Qwen3.5: config.json to spec (the hybrid LLM's layers), bad fields named with their rule, the
processor's own token counts, the cost model's linear-attention terms (no KV cache, a constant
state) and analytic against traced FLOPs at full size.

No verbatim Qwen3.5 config.json could be found, so the full-size config here is test data in the
released layout with Qwen3.5-9B's numbers (32 layers of width 4096, three Gated DeltaNet layers in
every four, 16 key / 32 value heads of 128, gated attention with 16 heads of 256): the model it
builds has 8,953,803,264 LLM parameters, which the cost model's count must equal. Nothing from it
enters the catalog.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _extras import TORCH_STACK, need
from family_data import assert_components_agree, changed

from vlmplanner.errors import VlmPlannerError
from vlmplanner.families import get_family, spec_from_config

TEXT = {"model_type": "qwen3_5_text", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 32,
        "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 248320,
        "attn_output_gate": True, "full_attention_interval": 4,
        "layer_types": (["linear_attention"] * 3 + ["full_attention"]) * 8, "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32,
        "linear_value_head_dim": 128, "rms_norm_eps": 1e-6,
        "rope_parameters": {"mrope_interleaved": True, "mrope_section": [11, 11, 10], "rope_type": "default",
                            "rope_theta": 10000000, "partial_rotary_factor": 0.25}}
CONFIG: dict[str, Any] = {
    "model_type": "qwen3_5", "tie_word_embeddings": False, "image_token_id": 248056, "video_token_id": 248057,
    "vision_start_token_id": 248053, "vision_end_token_id": 248054, "text_config": TEXT,
    "vision_config": {"model_type": "qwen3_5", "depth": 27, "hidden_size": 1152, "intermediate_size": 4304,
                      "num_heads": 16, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "out_hidden_size": 4096, "num_position_embeddings": 2304, "hidden_act": "gelu_pytorch_tanh",
                      "in_channels": 3},
}
#: LLM parameters of the model transformers builds from CONFIG (counted on its FakeTensor weights)
LLM_PARAMETERS = 8_953_803_264


def _spec(config: dict[str, Any] = CONFIG) -> Any:
    return spec_from_config(config, checkpoint="Qwen/Qwen3.5-9B", source="test")


def test_the_released_layout_becomes_a_spec() -> None:
    spec = _spec()
    llm = spec.llm
    assert (llm.num_layers, llm.attention_layers, llm.attention_gate, llm.head_dim) == (32, 8, True, 256)
    linear = llm.linear_attention
    assert linear is not None
    assert (linear.layers, linear.key_heads, linear.value_heads, linear.key_head_dim, linear.value_head_dim,
            linear.conv_kernel) == (24, 16, 32, 128, 128, 4)
    assert llm.params_b == 8.95 and spec.vision.deepstack_layers == 0 and spec.native_visual_tokens == 196
    # the interval alone gives the same layers
    interval = changed(CONFIG, "text_config", layer_types=None)
    interval["text_config"].pop("layer_types", None)
    assert _spec(interval).llm.linear_attention == linear


def test_the_parameter_count_is_the_models() -> None:
    need(*TORCH_STACK)
    from vlmplanner.families._config import counted_llm_params

    llm = _spec().llm.model_dump(exclude={"name", "params_b"})
    assert counted_llm_params(llm, qk_norm=True) == LLM_PARAMETERS
    from vlmplanner.profiling import ProfileTarget
    from vlmplanner.profiling.flops import fake_model

    model = fake_model(ProfileTarget.from_config(CONFIG, name="Qwen/Qwen3.5-9B", source="test layout"))
    built = sum(p.numel() for p in model.model.language_model.parameters()) + model.lm_head.weight.numel()
    assert built == LLM_PARAMETERS


@pytest.mark.parametrize(("config", "field", "words"), [
    (changed(CONFIG, "text_config", layer_types=["linear_attention"] * 32), "text_config.layer_types",
     "no full_attention"),
    (changed(CONFIG, "text_config", layer_types=["full_attention"] * 31), "text_config.layer_types", "each of the 32"),
    (changed(CONFIG, "text_config", layer_types=["mamba"] * 32), "text_config.layer_types", "linear_attention or"),
    (changed(CONFIG, "text_config", attn_output_gate=False), "text_config.attn_output_gate", "always gates"),
    (changed(CONFIG, "text_config", linear_num_value_heads=24), "text_config.linear_num_value_heads", "multiple of"),
    (changed(CONFIG, "text_config", linear_key_head_dim=0), "text_config.linear_key_head_dim", "positive integer"),
    (changed(CONFIG, "vision_config", deepstack_visual_indexes=[8]), "vision_config.deepstack_visual_indexes",
     "no DeepStack"),
    (changed(CONFIG, "vision_config", out_hidden_size=2048), "vision_config.out_hidden_size", "must equal"),
])
def test_a_bad_field_is_named_with_its_rule(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        _spec(config)
    assert info.value.field == field and words in info.value.message, info.value.message


SIZES = [(448, 448), (720, 1280), (200, 300), (1080, 1920), (3000, 100)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_visual_tokens_equal_the_processors(size: tuple[int, int]) -> None:
    """Qwen3VLProcessor (the processor transformers maps qwen3_5 to) with the family's patch, merge and
    pixel bounds, on a real image of each size."""
    need(*TORCH_STACK)
    from PIL import Image

    family, spec = get_family("qwen3_5"), _spec()
    config = family.hf_config(CONFIG)
    tokenizer = family._tokenizer()  # type: ignore[attr-defined]
    processor = family._processor(config, tokenizer)  # type: ignore[attr-defined]
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (*size, 3), dtype=np.uint8))
    out = processor(text=["<|vision_start|><|image_pad|><|vision_end|> describe it"], images=[image],
                    return_tensors="pt")
    emitted = int((out["input_ids"] == tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
    assert emitted == family.visual_tokens(spec, size)


def test_only_the_attention_layers_keep_a_kv_cache() -> None:
    """KV cache: 8 gated-attention layers x T x 2·kv·2 bytes; the 24 DeltaNet layers a constant
    fp32 state of 32 x 128 x 128 and a bf16 conv window of 3 x (2·16·128 + 32·128) each."""
    from vlmplanner.compressors import compressor_card
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import Workload, build

    spec = _spec()
    cost = breakdown(spec, compressor_card("none").spec(), 196, build(Workload, text_tokens=50, output_tokens=10))
    t = 50 + 196 + 10
    kv = 8 * t * 2 * (4 * 256) * 2
    state = 24 * (32 * 128 * 128 * 4 + 3 * (2 * 16 * 128 + 32 * 128) * 2)
    assert cost.memory_bytes["kv_cache_per_request"] == pytest.approx(kv + state, rel=1e-9)


@pytest.fixture(scope="module")
def target() -> Any:
    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget

    return ProfileTarget.from_config(CONFIG, name="Qwen/Qwen3.5-9B", source="test layout")


@pytest.mark.parametrize(("tokens", "image_size"), [(None, None), (None, (720, 1280)), (49, None)])
def test_analytic_and_traced_flops_agree_at_full_size(target: Any, tokens: int | None,
                                                      image_size: tuple[int, int] | None) -> None:
    from vlmplanner.profiling import count_flops

    analytic = count_flops(target, tokens, method="analytic", image_size=image_size)
    traced = count_flops(target, tokens, method="traced", image_size=image_size)
    assert_components_agree(analytic, traced)
    assert traced.visual_tokens == analytic.visual_tokens
    llm = target.spec.llm
    linear = llm.linear_attention
    # a traced decode step attends over T + 1 positions in the 8 attention layers, sees none of the
    # DeltaNet state update (elementwise in transformers: 6·dk·dv per value head and layer), and
    # counts two outputs of the causal convolution per step (transformers convolves the K cached
    # inputs and the new one, and keeps the last); before 5.24 also the rotary frequencies' matmul
    recurrent = linear.layers * 6 * linear.value_heads * linear.key_head_dim * linear.value_head_dim
    second_conv = linear.layers * 2 * linear.conv_kernel * linear.conv_width
    gap = (traced.flops["decode_step"] - analytic.flops["decode_step"] + recurrent - second_conv
           - 4 * llm.q_width * llm.attention_layers)
    # (the rotary frequencies' matmul: 2·rotary_dim/2 per M-RoPE axis, rotary_dim = head_dim x partial_rotary_factor)
    rotary = int(llm.head_dim * TEXT["rope_parameters"]["partial_rotary_factor"])
    assert gap in (0, 3 * rotary), gap


def test_the_catalog_stores_the_hybrid_llm(catalog_url: str) -> None:
    """A registered Qwen3.5 keeps its linear-attention layers and gate through the catalog (SQLite and
    PostgreSQL), so the planner costs what register read."""
    from vlmplanner.store import open_catalog

    spec = _spec()
    with open_catalog(catalog_url, seed=False) as catalog:
        catalog.add_model(spec)
        stored = catalog.model(spec.checkpoint)
    assert stored.llm.linear_attention == spec.llm.linear_attention and stored.llm.attention_gate
    assert stored == spec


#: Qwen3.5-35B-A3B's numbers in the released layout: 40 layers of width 2048, 256 experts of 512
#: (8 active) and a shared expert of 512 in every layer, no dense MLP.
MOE_CONFIG: dict[str, Any] = changed(
    {**CONFIG, "model_type": "qwen3_5_moe"}, "text_config", model_type="qwen3_5_moe_text", hidden_size=2048,
    num_hidden_layers=40, num_key_value_heads=2, layer_types=(["linear_attention"] * 3 + ["full_attention"]) * 10,
    num_experts=256, num_experts_per_tok=8, moe_intermediate_size=512, shared_expert_intermediate_size=512)
MOE_CONFIG["text_config"].pop("intermediate_size")
MOE_CONFIG["vision_config"] = {**CONFIG["vision_config"], "model_type": "qwen3_5_moe", "out_hidden_size": 2048}
#: LLM parameters of the model transformers builds from MOE_CONFIG (every expert)
MOE_LLM_PARAMETERS = 34_660_610_688


def test_the_moe_layout_becomes_a_spec_with_the_models_parameter_count() -> None:
    need(*TORCH_STACK)
    from vlmplanner.families._config import counted_llm_params
    from vlmplanner.profiling import ProfileTarget
    from vlmplanner.profiling.flops import fake_model

    spec = spec_from_config(MOE_CONFIG, checkpoint="Qwen/Qwen3.5-35B-A3B", source="test")
    moe = spec.llm.moe
    assert moe is not None and (moe.num_experts, moe.experts_per_token, moe.layers) == (256, 8, 40)
    assert moe.shared_expert_intermediate_size == 512 and spec.llm.params_b == 34.7
    assert counted_llm_params(spec.llm.model_dump(exclude={"name", "params_b"}), qk_norm=True) == MOE_LLM_PARAMETERS
    model = fake_model(ProfileTarget.from_config(MOE_CONFIG, name="Qwen/Qwen3.5-35B-A3B", source="test layout"))
    assert sum(p.numel() for p in model.model.language_model.parameters()) + model.lm_head.weight.numel() \
        == MOE_LLM_PARAMETERS


@pytest.mark.parametrize(("config", "field"), [
    (changed(MOE_CONFIG, "text_config", num_experts=None), "text_config.num_experts"),
    (changed(MOE_CONFIG, "text_config", num_experts_per_tok=300), "text_config.num_experts_per_tok"),
    (changed(MOE_CONFIG, "text_config", shared_expert_intermediate_size=-1), "text_config.shared_expert_intermediate_size"),
])
def test_a_bad_moe_field_is_named(config: dict[str, Any], field: str) -> None:
    with pytest.raises(VlmPlannerError) as info:
        spec_from_config(config, checkpoint="Qwen/Qwen3.5-35B-A3B", source="test")
    assert info.value.field == field, info.value.message


def test_moe_analytic_and_traced_flops_agree_at_full_size() -> None:
    """The active experts and the shared one, counted through batched_mm on fake weights."""
    need(*TORCH_STACK)
    from vlmplanner.profiling import ProfileTarget, count_flops

    target = ProfileTarget.from_config(MOE_CONFIG, name="Qwen/Qwen3.5-35B-A3B", source="test layout")
    analytic = count_flops(target, method="analytic")
    traced = count_flops(target, method="traced")
    assert_components_agree(analytic, traced, skip=("decode_step",))   # the recurrent update, as for the dense model



#: Qwen3.5-0.8B's config as transformers 5.17 serializes it, printed in a public repository's notes
#: (found with the project's code search, file id 68870418900; not the Hub file itself): 24 layers of
#: 1024 (18 Gated DeltaNet with 16 value heads), a 12-layer ViT of 768, tied embeddings, and the
#: keys this adapter reads past (``mtp_num_hidden_layers``, ``mamba_ssm_dtype``, an empty
#: ``deepstack_visual_indexes``).
SMALL_SERIALIZED: dict[str, Any] = {
    "architectures": ["Qwen3_5ForConditionalGeneration"], "dtype": "bfloat16", "image_token_id": 248056,
    "model_type": "qwen3_5",
    "text_config": {
        "attention_bias": False, "attention_dropout": 0.0, "attn_output_gate": True, "bos_token_id": None,
        "dtype": "float16", "eos_token_id": 248044, "full_attention_interval": 4, "head_dim": 256,
        "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3584,
        "layer_types": (["linear_attention"] * 3 + ["full_attention"]) * 6, "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 16,
        "linear_value_head_dim": 128, "mamba_ssm_dtype": "float32", "max_position_embeddings": 262144,
        "mlp_only_layers": [], "model_type": "qwen3_5_text", "mtp_num_hidden_layers": 1,
        "mtp_use_dedicated_embeddings": False, "num_attention_heads": 8, "num_hidden_layers": 24,
        "num_key_value_heads": 2, "pad_token_id": None, "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06,
        "rope_parameters": {"mrope_interleaved": True, "mrope_section": [11, 11, 10], "partial_rotary_factor": 0.25,
                            "rope_theta": 10000000, "rope_type": "default"},
        "tie_word_embeddings": True, "use_cache": True, "vocab_size": 248320},
    "tie_word_embeddings": True, "transformers_version": "5.17.0", "video_token_id": 248057,
    "vision_config": {
        "deepstack_visual_indexes": [], "depth": 12, "dtype": "float16", "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": 768, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 3072,
        "model_type": "qwen3_5_vision", "num_heads": 12, "num_position_embeddings": 2304, "out_hidden_size": 1024,
        "patch_size": 16, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"},
        "spatial_merge_size": 2, "temporal_patch_size": 2},
    "vision_end_token_id": 248054, "vision_start_token_id": 248053,
}


def test_a_serialized_small_config_counts_what_transformers_builds() -> None:
    need(*TORCH_STACK)
    from vlmplanner.families._config import counted_llm_params
    from vlmplanner.profiling import ProfileTarget, count_flops
    from vlmplanner.profiling.flops import fake_model

    spec = spec_from_config(SMALL_SERIALIZED, checkpoint="Qwen/Qwen3.5-0.8B", source="test")
    assert spec.llm.linear_attention is not None and spec.llm.linear_attention.layers == 18
    assert spec.llm.tie_word_embeddings and spec.vision.num_layers == 12
    target = ProfileTarget.from_config(SMALL_SERIALIZED, name="Qwen/Qwen3.5-0.8B", source="test layout")
    model = fake_model(target)
    built = sum(p.numel() for p in model.model.language_model.parameters())   # lm_head tied to the embedding
    assert counted_llm_params(spec.llm.model_dump(exclude={"name", "params_b"}), qk_norm=True) == built
    assert_components_agree(count_flops(target, method="analytic"), count_flops(target, method="traced"),
                            skip=("decode_step",))
