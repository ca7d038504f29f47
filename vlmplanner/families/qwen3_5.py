"""Qwen3.5 (``model_type: qwen3_5``): Qwen3-VL's native-resolution ViT without DeepStack, and a
hybrid LLM whose layers alternate Gated DeltaNet (linear attention) and gated softmax attention.

Images are laid out as in Qwen3-VL (32 px merge grid, the same pixel bounds), through one patch
merger into the LLM. Three of every four decoder layers (``layer_types``, else
``full_attention_interval`` 4) mix tokens with a Gated DeltaNet: q/k/v projections through a short
causal convolution, then the gated delta rule over a recurrent state of value_heads x key_head_dim
x value_head_dim per request, which does not grow with the sequence (no KV cache); prefill runs it
in chunks of 64 tokens. The others are softmax attention whose q projection is twice as wide: a
sigmoid gate on the output (``attention_gate``).

The cost model (``vlmplanner.cost``) charges the linear layers' projections, convolution and delta
rule per token, the attention's T² term only in the softmax layers, a KV cache only for them and a
constant state for the rest. A compressor runs on the merged tokens as on Qwen2-VL and Qwen3-VL
(the seam, ``QwenSeam``: no DeepStack levels to follow). In-LLM pruning is not offered: the hooks rebuild softmax
attention rows, which the linear layers do not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec

from ._config import Section
from .qwen3_vl import CountableExperts, Qwen3VLFamily, expert_numbers

__all__ = ["Qwen3_5Family", "Qwen3_5MoeFamily"]

LAYER_TYPES = ("linear_attention", "full_attention")
#: Qwen3_5TextConfig's default: every fourth layer has full attention when layer_types is absent.
FULL_ATTENTION_INTERVAL = 4


class Qwen3_5Family(Qwen3VLFamily):
    """``qwen3_5``: Qwen3_5ForConditionalGeneration with Qwen3VLProcessor (images)."""

    model_type: ClassVar[str] = "qwen3_5"
    config_class: ClassVar[str] = "Qwen3_5Config"
    model_class: ClassVar[str] = "Qwen3_5ForConditionalGeneration"
    text_type: ClassVar[str] = "qwen3_5_text"
    vision_type: ClassVar[str] = "qwen3_5_vision"
    #: Qwen's seam without DeepStack levels
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:QwenSeam"
    special_token_ids: ClassVar[dict[str, int]] = {
        "image_token_id": 248056, "video_token_id": 248057, "vision_start_token_id": 248053,
        "vision_end_token_id": 248054}

    def fake_traceable(self) -> Any:
        """Nothing to patch: no DeepStack, and the delta rule runs on fake tensors as it is."""
        import contextlib

        return contextlib.nullcontext()

    def build_fake(self, config: Any) -> Any:
        """The fake model with the causal convolutions' weights out of autograd: transformers passes a
        view of that weight to a function-kernel module, and a view of a parameter taken under no_grad
        still requires grad, which the FLOP counter's module tracker refuses."""
        model = super().build_fake(config)
        for name, parameter in model.named_parameters():
            if name.endswith("linear_attn.conv1d.weight"):
                parameter.requires_grad_(False)
        return model

    # -- config.json -> ModelSpec ----------------------------------------------------------------
    @staticmethod
    def _deepstack(vision: Section, depth: int) -> int:
        """Qwen3.5's ViT has one merger: DeepStack indexes would be ignored by transformers' model."""
        indexes = vision.raw("deepstack_visual_indexes", [])
        if indexes:
            raise ValidationError("config.json vision_config.deepstack_visual_indexes must be empty: Qwen3.5's vision"
                                  f" tower has no DeepStack mergers, got {indexes!r}",
                                  field="vision_config.deepstack_visual_indexes", value=indexes)
        return 0

    def _mixer(self, text: Section, layers: int) -> dict[str, Any]:
        """The linear-attention layers (``layer_types``) and their widths; the gated softmax attention."""
        types = self._layer_types(text, layers)
        gate = text.raw("attn_output_gate", True)
        if gate is not True:
            raise ValidationError("config.json text_config.attn_output_gate must be true: transformers' Qwen3.5"
                                  f" attention always gates its output, got {gate!r}",
                                  field="text_config.attn_output_gate", value=gate)
        key_heads = text.positive_int("linear_num_key_heads")
        value_heads = text.positive_int("linear_num_value_heads")
        if value_heads % key_heads:
            raise ValidationError(
                f"config.json text_config.linear_num_value_heads {value_heads} must be a multiple of"
                f" linear_num_key_heads {key_heads}: each key head serves value_heads / key_heads value heads",
                field="text_config.linear_num_value_heads", value=value_heads)
        linear = types.count("linear_attention")
        mixer: dict[str, Any] = {"attention_gate": True}
        if linear:
            mixer["linear_attention"] = {
                "layers": linear, "key_heads": key_heads, "value_heads": value_heads,
                "key_head_dim": text.positive_int("linear_key_head_dim"),
                "value_head_dim": text.positive_int("linear_value_head_dim"),
                "conv_kernel": text.positive_int("linear_conv_kernel_dim"),
            }
        return mixer

    @staticmethod
    def _layer_types(text: Section, layers: int) -> list[str]:
        raw = text.raw("layer_types", None)
        if raw is None:
            interval = Section({"full_attention_interval": text.raw("full_attention_interval", FULL_ATTENTION_INTERVAL)},
                               text.where).positive_int("full_attention_interval")
            return [LAYER_TYPES[(i + 1) % interval == 0] for i in range(layers)]
        if (not isinstance(raw, (list, tuple)) or len(raw) != layers
                or any(kind not in LAYER_TYPES for kind in raw)):
            raise ValidationError(
                f"config.json text_config.layer_types must name each of the {layers} layers"
                f" {' or '.join(LAYER_TYPES)}, got {str(raw)[:200]}", field="text_config.layer_types",
                value=None if not isinstance(raw, (list, tuple)) else len(raw))
        if "full_attention" not in raw:
            raise ValidationError("config.json text_config.layer_types has no full_attention layer: Qwen3.5 keeps"
                                  " softmax attention in some layers", field="text_config.layer_types", value=len(raw))
        return list(raw)

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """Qwen3-VL's layout with the hybrid LLM: the linear layers every 4th-but-last, their widths."""
        config = super().config_from_spec(spec)
        llm = spec.llm
        linear = llm.linear_attention
        text = config["text_config"]
        kinds = self._spread(llm.num_layers, 0 if linear is None else linear.layers)
        text.update(model_type=self.text_type, layer_types=kinds, attn_output_gate=True)
        if linear is not None:
            text.update(linear_num_key_heads=linear.key_heads, linear_num_value_heads=linear.value_heads,
                        linear_key_head_dim=linear.key_head_dim, linear_value_head_dim=linear.value_head_dim,
                        linear_conv_kernel_dim=linear.conv_kernel)
        config.update(self.special_token_ids)
        config["vision_config"].pop("deepstack_visual_indexes", None)
        config["vision_config"]["model_type"] = self.vision_type
        return config

    @staticmethod
    def _spread(layers: int, linear: int) -> list[str]:
        """``linear`` linear-attention layers spread over the depth, each group ending in full attention."""
        full = layers - linear
        return ["full_attention" if (i + 1) * full // layers != i * full // layers else "linear_attention"
                for i in range(layers)]

    # -- tiny, offline ----------------------------------------------------------------------------
    def _tiny_vision(self) -> dict[str, Any]:
        vision = super()._tiny_vision()
        vision.pop("deepstack_visual_indexes")
        return vision

    def _tiny_text(self) -> dict[str, Any]:
        """Three layers: two Gated DeltaNet, then gated attention; head_dim 16 (M-RoPE 4/2/2 pairs)."""
        return {**super()._tiny_text(), "num_hidden_layers": 3,
                "layer_types": ["linear_attention", "linear_attention", "full_attention"],
                "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 8,
                "linear_value_head_dim": 8, "linear_conv_kernel_dim": 4}

    def _tiny_config(self, tokenizer: Any, overrides: Mapping[str, Any], cls: Any) -> Any:
        """A tiny config whose layer_types follow an overridden depth (tests ask for 3 or 12 layers)."""
        layers = (overrides.get("text_config") or {}).get("num_hidden_layers")
        if layers is not None and "layer_types" not in (overrides.get("text_config") or {}):
            kinds = self._spread(int(layers), int(layers) - max(1, int(layers) // 3))
            overrides = {**overrides, "text_config": {**overrides["text_config"], "layer_types": kinds}}
        return super()._tiny_config(tokenizer, overrides, cls)


class Qwen3_5MoeFamily(CountableExperts, Qwen3_5Family):
    """``qwen3_5_moe``: Qwen3.5 with a mixture-of-experts MLP in every layer (35B-A3B, 397B-A17B).

    Each token goes to ``num_experts_per_tok`` of ``num_experts`` gated MLPs of
    ``moe_intermediate_size`` and to an always-on shared expert of
    ``shared_expert_intermediate_size`` whose output a d -> 1 sigmoid gate scales; there is no dense
    MLP (``intermediate_size`` is not in the config).
    """

    model_type: ClassVar[str] = "qwen3_5_moe"
    config_class: ClassVar[str] = "Qwen3_5MoeConfig"
    model_class: ClassVar[str] = "Qwen3_5MoeForConditionalGeneration"
    text_type: ClassVar[str] = "qwen3_5_moe_text"
    vision_type: ClassVar[str] = "qwen3_5_moe_vision"

    def _dense_width(self, text: Section) -> int:
        """No dense MLP: the experts' width stands in (every layer is sparse, so it is never costed)."""
        return expert_numbers(text)[2]

    def _moe(self, text: Section, layers: int) -> dict[str, int] | None:
        experts, active, width = expert_numbers(text)
        shared = Section(text.data, text.where).raw("shared_expert_intermediate_size", 0)
        if isinstance(shared, bool) or not isinstance(shared, int) or shared < 0:
            raise ValidationError("config.json text_config.shared_expert_intermediate_size must be a whole number of"
                                  f" 0 or more, got {shared!r}", field="text_config.shared_expert_intermediate_size",
                                  value=shared)
        return {"num_experts": experts, "experts_per_token": active, "expert_intermediate_size": width,
                "layers": layers, "shared_expert_intermediate_size": shared}

    def _moe_config(self, spec: ModelSpec) -> dict[str, Any]:
        moe = spec.llm.moe
        if moe is None or moe.layers != spec.llm.num_layers:
            raise ValidationError(f"{spec.checkpoint} is a {self.model_type} model: every layer is sparse",
                                  field="llm.moe", value=None if moe is None else moe.layers)
        return {"num_experts": moe.num_experts, "num_experts_per_tok": moe.experts_per_token,
                "moe_intermediate_size": moe.expert_intermediate_size,
                "shared_expert_intermediate_size": moe.shared_expert_intermediate_size}

    def _tiny_text(self) -> dict[str, Any]:
        return {**super()._tiny_text(), "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16,
                "shared_expert_intermediate_size": 16}
