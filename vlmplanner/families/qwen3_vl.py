"""Qwen3-VL (``model_type: qwen3_vl``): a native-resolution ViT with DeepStack, and a Qwen3 LLM.

Images are laid out as in Qwen2-VL (each side rounded to patch x merge = 32 px, every 2x2 group of
16 px patches one LLM token), within the released checkpoints' pixel bounds (65,536 to 16,777,216
pixels: 64 to 16,384 tokens). Three more patch mergers take features from ViT layers 8, 16 and 24
(``deepstack_visual_indexes``) and add them to the visual positions of the first three LLM layers.
The LLM is Qwen3: an explicit ``head_dim`` (query width heads x head_dim, not hidden_size), per-head
RMSNorm of queries and keys, no q/k/v biases.

A compressor runs on the merged tokens after the last merger (the seam, ``Qwen3Seam``); each kept
token takes its DeepStack features from the same grid cell, so the early layers see the same
subset. In-LLM pruning is not offered: it would drop visual positions DeepStack writes into.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec, build

from ._config import (
    TEXT_DEFAULTS,
    VISION_DEFAULTS,
    Section,
    counted_llm_params,
    round_billions,
    sub_config,
)
from .llava import _check_heads
from .qwen2_vl import Qwen2VLFamily
from .vision import VisionProfile, qwen3_vit

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["QWEN3_PIXEL_BOUNDS", "CountableExperts", "Qwen3VLFamily", "Qwen3VLMoeFamily", "expert_numbers"]

#: min/max pixels of every released Qwen3-VL preprocessor_config.json (size.shortest_edge / longest_edge)
QWEN3_PIXEL_BOUNDS = (65536, 16777216)


class Qwen3VLFamily(Qwen2VLFamily):
    """``qwen3_vl``: Qwen3VLForConditionalGeneration with Qwen3VLProcessor (images only)."""

    model_type: ClassVar[str] = "qwen3_vl"
    config_class: ClassVar[str] = "Qwen3VLConfig"
    model_class: ClassVar[str] = "Qwen3VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen3VLProcessor"
    text_type: ClassVar[str] = "qwen3_vl_text"
    vision_type: ClassVar[str] = "qwen3_vl_vision"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:Qwen3Seam"
    llm_hooks: ClassVar[bool] = False   # DeepStack writes into visual positions of layers 0-2
    checkpoint_pixel_bounds: ClassVar[tuple[int, int]] = QWEN3_PIXEL_BOUNDS
    input_pixel_bounds: ClassVar[tuple[int, int]] = QWEN3_PIXEL_BOUNDS
    special_token_ids: ClassVar[dict[str, int]] = {
        "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
        "vision_end_token_id": 151653}

    # -- the cost model -----------------------------------------------------------------------
    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        return qwen3_vit(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                         v.intermediate_size, v.spatial_merge_size, spec.native_visual_tokens, image_size,
                         deepstack=v.deepstack_layers, out_hidden=spec.llm.hidden_size,
                         position_embeddings=v.position_embeddings, bounds=self.checkpoint_pixel_bounds)

    def llm_has_qkv_bias(self, spec: ModelSpec) -> bool:
        return False

    def fake_traceable(self) -> contextlib.AbstractContextManager[Any]:
        from vlmplanner import compat

        return compat.traceable_deepstack()

    def llm_has_qk_norm(self, spec: ModelSpec) -> bool:
        return True

    # -- config.json -> ModelSpec ----------------------------------------------------------------
    def _moe(self, text: Section, layers: int) -> dict[str, int] | None:
        """The sparse MLP's numbers (the MoE subclass reads them); None: a dense LLM."""
        return None

    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        self._check_model_type(config)
        top = Section(config, "")
        text_raw = sub_config(config, "text_config")
        text = Section(text_raw, "text_config", TEXT_DEFAULTS[self.text_type])
        vision = Section(sub_config(config, "vision_config"), "vision_config", VISION_DEFAULTS[self.vision_type])
        layers = text.positive_int("num_hidden_layers")
        hidden = text.positive_int("hidden_size")
        heads = text.positive_int("num_attention_heads")
        kv_heads = text.positive_int("num_key_value_heads", heads)
        head_dim = text.positive_int("head_dim")
        intermediate = self._dense_width(text)
        vocab = text.positive_int("vocab_size")
        tied = top.boolean("tie_word_embeddings", text.boolean("tie_word_embeddings", False))
        _check_heads(text, hidden, heads, kv_heads, head_dim)
        if text.raw("attention_bias", False) is not False:
            raise ValidationError("config.json text_config.attention_bias must be false: Qwen3's attention has no"
                                  " biases", field="text_config.attention_bias", value=text.raw("attention_bias"))
        moe = self._moe(text, layers)

        patch = vision.positive_int("patch_size")
        merge = vision.positive_int("spatial_merge_size")
        v_layers = vision.positive_int("depth")
        v_hidden = vision.positive_int("hidden_size")
        out_hidden = vision.positive_int("out_hidden_size")
        if out_hidden != hidden:
            raise ValidationError(
                f"config.json vision_config.out_hidden_size {out_hidden} must equal text_config.hidden_size"
                f" {hidden}: the patch merger projects into the LLM's width", field="vision_config.out_hidden_size",
                value=out_hidden)
        deepstack = self._deepstack(vision, v_layers)
        positions = vision.positive_int("num_position_embeddings")
        if round(positions ** 0.5) ** 2 != positions:
            raise ValidationError(f"config.json vision_config.num_position_embeddings {positions} must be a square"
                                  " (a side x side table the tower interpolates)",
                                  field="vision_config.num_position_embeddings", value=positions)
        side, native, note = self._reference_image(patch, merge)
        notes = [note]
        llm = {"name": text_raw.get("_name_or_path") or f"{checkpoint} (language model)", "num_layers": layers,
               "hidden_size": hidden, "num_heads": heads, "num_kv_heads": kv_heads, "head_dim": head_dim,
               "intermediate_size": intermediate, "vocab_size": vocab, "tie_word_embeddings": tied, "moe": moe,
               **self._mixer(text, layers)}
        if params_b is None:
            params_b = round_billions(counted_llm_params(llm, qk_norm=True))
            notes.append(f"llm params_b {params_b:g} counted from the config (language model with lm_head"
                         + (", every expert" if moe else "") + ")")
        return build(ModelSpec, {
            "checkpoint": checkpoint,
            "model_type": self.model_type,
            "display_name": checkpoint.rstrip("/").rsplit("/", 1)[-1] or checkpoint,
            "llm": {**llm, "params_b": params_b},
            "vision": {
                "name": "(built-in ViT)", "image_size": side, "patch_size": patch, "num_layers": v_layers,
                "num_heads": vision.positive_int("num_heads"), "hidden_size": v_hidden,
                "intermediate_size": vision.positive_int("intermediate_size"), "spatial_merge_size": merge,
                "deepstack_layers": deepstack, "position_embeddings": positions,
            },
            "projector": "patch_merger",
            "native_visual_tokens": native,
            "public_checkpoint": True,
            "source": source,
            "note": "; ".join(notes),
        })

    def _dense_width(self, text: Section) -> int:
        """The dense MLP's width (``intermediate_size``)."""
        return text.positive_int("intermediate_size")

    def _mixer(self, text: Section, layers: int) -> dict[str, Any]:
        """LlmSpec fields of a token mixer other than plain softmax attention (Qwen3.5 reads them)."""
        return {}

    @staticmethod
    def _deepstack(vision: Section, depth: int) -> int:
        """How many DeepStack mergers: each index a distinct ViT layer below the depth."""
        indexes = vision.raw("deepstack_visual_indexes", [8, 16, 24])
        if (not isinstance(indexes, (list, tuple)) or len(set(indexes)) != len(indexes)
                or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < depth for i in indexes)):
            raise ValidationError(
                f"config.json vision_config.deepstack_visual_indexes must be distinct layer indexes below depth"
                f" {depth}, got {indexes!r}", field="vision_config.deepstack_visual_indexes", value=indexes)
        return len(indexes)

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """The released configs' layout: interleaved M-RoPE over head_dim/2 rotary pairs (24/20/20
        at head_dim 128), DeepStack at evenly spread ViT layers, the special token ids of every release."""
        llm, vision = spec.llm, spec.vision
        half = llm.head_dim // 2
        rest = half - (half * 3) // 8
        text = {"model_type": self.text_type, "hidden_size": llm.hidden_size, "num_hidden_layers": llm.num_layers,
                "num_attention_heads": llm.num_heads, "num_key_value_heads": llm.num_kv_heads,
                "head_dim": llm.head_dim, "intermediate_size": llm.intermediate_size, "vocab_size": llm.vocab_size,
                "rope_scaling": {"rope_type": "default", "mrope_interleaved": True,
                                 "mrope_section": [half - rest, rest // 2, rest - rest // 2]},
                "bos_token_id": 151643, "eos_token_id": 151645, **self._moe_config(spec)}
        depth = vision.num_layers
        step = depth // (vision.deepstack_layers + 1) if vision.deepstack_layers else 0
        return {
            "model_type": self.model_type, "tie_word_embeddings": llm.tie_word_embeddings, **self.special_token_ids,
            "text_config": text,
            "vision_config": {
                "model_type": f"{self.model_type}_vision",
                "depth": depth, "hidden_size": vision.hidden_size, "intermediate_size": vision.intermediate_size,
                "num_heads": vision.num_heads, "patch_size": vision.patch_size,
                "spatial_merge_size": vision.spatial_merge_size, "temporal_patch_size": 2, "in_channels": 3,
                "out_hidden_size": llm.hidden_size, "hidden_act": "gelu_pytorch_tanh",
                "num_position_embeddings": vision.position_embeddings or 2304,
                "deepstack_visual_indexes": [step * (i + 1) for i in range(vision.deepstack_layers)],
            },
        }

    def _moe_config(self, spec: ModelSpec) -> dict[str, Any]:
        return {}

    # -- tiny, offline ----------------------------------------------------------------------------
    def _tiny_vision(self) -> dict[str, Any]:
        return {"depth": 3, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
                "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 32,
                "num_position_embeddings": 64, "deepstack_visual_indexes": [0, 1]}

    def _tiny_text(self) -> dict[str, Any]:
        return {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 1024,
                # mrope_section sums to head_dim / 2 (head_dim 16): temporal, height, width
                "rope_parameters": {"rope_type": "default", "mrope_section": [4, 2, 2], "mrope_interleaved": True,
                                    "rope_theta": 10000.0}}

    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        data = super()._tiny_dict(tokenizer)
        data["text_config"] = {**{k: v for k, v in data["text_config"].items() if k in (
            "vocab_size", "bos_token_id", "eos_token_id", "pad_token_id")}, **self._tiny_text()}
        return data

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        from vlmplanner import compat

        vision = config.vision_config
        low, high = self.input_pixel_bounds
        image_processor = compat.transformers_class("Qwen2VLImageProcessorPil")(
            patch_size=vision.patch_size, merge_size=vision.spatial_merge_size,
            temporal_patch_size=vision.temporal_patch_size, size={"shortest_edge": low, "longest_edge": high},
            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
        return self._processor_cls()(image_processor=image_processor, tokenizer=tokenizer)


def expert_numbers(text: Section) -> tuple[int, int, int]:
    """(experts, active per token, expert width) of an MoE text config. They must be in the file:
    transformers' defaults describe no released model."""
    given = Section(text.data, text.where)
    # transformers 5 re-saves num_experts as num_local_experts (its attribute map)
    key = "num_local_experts" if "num_experts" not in text.data and "num_local_experts" in text.data else "num_experts"
    experts = given.positive_int(key)
    active = given.positive_int("num_experts_per_tok")
    if active > experts:
        raise ValidationError(f"config.json text_config.num_experts_per_tok {active} exceeds num_experts"
                              f" {experts}", field="text_config.num_experts_per_tok", value=active)
    return experts, active, given.positive_int("moe_intermediate_size")


class CountableExperts:
    """What an MoE family needs to count its experts: the fake model and a real one (fvcore) run
    them as one batched matmul per token and chosen expert (``compat.countable_experts``)."""

    def counting(self, model: Any) -> contextlib.AbstractContextManager[Any]:
        from vlmplanner import compat

        return compat.counting_experts(model)

    def build_fake(self, config: PretrainedConfig) -> Any:
        """As the family's own, with the experts run as one batched matmul per token and expert: the
        default loop over the experts a batch hits cannot run on fake tensors (it asks which experts
        were picked), and the batched form costs what the active experts cost."""
        from vlmplanner import compat

        return super().build_fake(compat.countable_experts(config))  # type: ignore[misc]


class Qwen3VLMoeFamily(CountableExperts, Qwen3VLFamily):
    """``qwen3_vl_moe``: Qwen3-VL with a sparse mixture-of-experts LLM (30B-A3B, 235B-A22B).

    Every decoder layer ``l`` with ``(l + 1) % decoder_sparse_step == 0`` that is not in
    ``mlp_only_layers`` routes each token to ``num_experts_per_tok`` of ``num_experts`` gated MLPs
    of width ``moe_intermediate_size``; the others keep a dense MLP of ``intermediate_size``.
    """

    model_type: ClassVar[str] = "qwen3_vl_moe"
    config_class: ClassVar[str] = "Qwen3VLMoeConfig"
    model_class: ClassVar[str] = "Qwen3VLMoeForConditionalGeneration"
    text_type: ClassVar[str] = "qwen3_vl_moe_text"

    def _moe(self, text: Section, layers: int) -> dict[str, int] | None:
        experts, active, width = expert_numbers(text)
        step = text.positive_int("decoder_sparse_step", 1)
        dense = text.raw("mlp_only_layers", [])
        if not isinstance(dense, (list, tuple)) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < layers for i in dense):
            raise ValidationError(f"config.json text_config.mlp_only_layers must list layer indexes below"
                                  f" num_hidden_layers {layers}, got {dense!r}", field="text_config.mlp_only_layers",
                                  value=dense)
        sparse = sum(1 for layer in range(layers) if layer not in dense and (layer + 1) % step == 0)
        if sparse == 0:
            raise ValidationError("config.json text_config: no layer is sparse (decoder_sparse_step and"
                                  " mlp_only_layers leave every MLP dense); register it as qwen3_vl",
                                  field="text_config.decoder_sparse_step", value=step)
        return {"num_experts": experts, "experts_per_token": active, "expert_intermediate_size": width,
                "layers": sparse}

    def _moe_config(self, spec: ModelSpec) -> dict[str, Any]:
        moe = spec.llm.moe
        if moe is None:
            raise ValidationError(f"{spec.checkpoint} is a {self.model_type} model without MoE numbers",
                                  field="llm.moe", value=None)
        layers = spec.llm.num_layers
        if moe.layers != layers:   # the sparse layers are the last ones; the rest dense
            return {"num_experts": moe.num_experts, "num_experts_per_tok": moe.experts_per_token,
                    "moe_intermediate_size": moe.expert_intermediate_size, "decoder_sparse_step": 1,
                    "mlp_only_layers": list(range(layers - moe.layers))}
        return {"num_experts": moe.num_experts, "num_experts_per_tok": moe.experts_per_token,
                "moe_intermediate_size": moe.expert_intermediate_size, "decoder_sparse_step": 1, "mlp_only_layers": []}

    def _tiny_text(self) -> dict[str, Any]:
        return {**super()._tiny_text(), "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16,
                "decoder_sparse_step": 1, "mlp_only_layers": []}

