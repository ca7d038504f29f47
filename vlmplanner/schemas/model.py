"""ModelSpec: the architecture numbers of one VLM checkpoint, as its config.json gives them."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ._base import Schema

__all__ = ["LinearAttentionSpec", "LlmSpec", "ModelSpec", "MoESpec", "VisionSpec"]


class MoESpec(Schema):
    """A sparse mixture-of-experts MLP: a router picks ``experts_per_token`` of ``num_experts``
    experts per token. Compute follows the active experts, memory holds all of them."""

    num_experts: PositiveInt
    experts_per_token: PositiveInt
    expert_intermediate_size: PositiveInt = Field(description="each expert's gated-MLP width")
    layers: PositiveInt = Field(description="decoder layers whose MLP is sparse (the rest are dense)")
    shared_expert_intermediate_size: NonNegativeInt = Field(
        0, description="an always-active shared expert's width (0: none)")

    @model_validator(mode="after")
    def _active_within_total(self) -> MoESpec:
        if self.experts_per_token > self.num_experts:
            raise ValueError(f"experts_per_token {self.experts_per_token} exceeds num_experts {self.num_experts}")
        return self


class LinearAttentionSpec(Schema):
    """Decoder layers whose token mixer is linear attention (Qwen3.5's Gated DeltaNet) instead of
    softmax attention: a short causal convolution over the q/k/v projections, then a recurrent state
    of value_heads x key_head_dim x value_head_dim per request that does not grow with the sequence
    (no KV cache)."""

    layers: PositiveInt = Field(description="decoder layers with linear attention (the rest attend softly)")
    key_heads: PositiveInt
    value_heads: PositiveInt = Field(description="value heads; each key head serves value_heads / key_heads")
    key_head_dim: PositiveInt
    value_head_dim: PositiveInt
    conv_kernel: PositiveInt = Field(description="the causal depthwise convolution's width")

    @model_validator(mode="after")
    def _heads_divide(self) -> LinearAttentionSpec:
        if self.value_heads % self.key_heads:
            raise ValueError(f"value_heads {self.value_heads} must be a multiple of key_heads {self.key_heads}")
        return self

    @property
    def key_width(self) -> int:
        return self.key_heads * self.key_head_dim

    @property
    def value_width(self) -> int:
        return self.value_heads * self.value_head_dim

    @property
    def conv_width(self) -> int:
        """Channels of the convolution: queries, keys and values."""
        return 2 * self.key_width + self.value_width


class LlmSpec(Schema):
    """The language model inside the VLM."""

    name: str = Field(description="the base LLM, e.g. lmsys/vicuna-7b-v1.5")
    params_b: PositiveFloat = Field(description="nominal size in billions, as the model is named")
    num_layers: PositiveInt
    hidden_size: PositiveInt
    num_heads: PositiveInt
    num_kv_heads: PositiveInt
    intermediate_size: PositiveInt
    vocab_size: PositiveInt
    tie_word_embeddings: bool = False
    head_dim: PositiveInt = Field(0, description="width of one attention head; hidden_size / num_heads unless"
                                  " the config sets it (Qwen3, Gemma 3)")
    moe: MoESpec | None = Field(None, description="the sparse MLP of a mixture-of-experts LLM; None: dense")
    sliding_window: PositiveInt | None = Field(
        None, description="positions a sliding-window layer attends to and caches (Gemma 3); None: no such layers")
    sliding_layers: NonNegativeInt = Field(
        0, description="decoder layers with sliding-window attention; the rest attend to every position")
    attention_gate: bool = Field(
        False, description="softmax-attention layers gate their output with a second query-width projection"
        " (Qwen3.5: q_proj is twice as wide)")
    linear_attention: LinearAttentionSpec | None = Field(
        None, description="the linear-attention layers of a hybrid LLM (Qwen3.5); None: every layer attends softly")

    @model_validator(mode="before")
    @classmethod
    def _default_head_dim(cls, data: Any) -> Any:
        """An absent head_dim is hidden_size / num_heads, as transformers defaults it."""
        if isinstance(data, dict) and data.get("head_dim") in (None, "", 0):
            hidden, heads = data.get("hidden_size"), data.get("num_heads")
            try:
                data = {**data, "head_dim": int(hidden) // int(heads)}  # type: ignore[arg-type]
            except (TypeError, ValueError, ZeroDivisionError):
                data = {key: value for key, value in data.items() if key != "head_dim"}
        return data

    @model_validator(mode="after")
    def _moe_within_layers(self) -> LlmSpec:
        if self.moe is not None and self.moe.layers > self.num_layers:
            raise ValueError(f"moe.layers {self.moe.layers} exceeds num_layers {self.num_layers}")
        if self.sliding_layers > self.num_layers:
            raise ValueError(f"sliding_layers {self.sliding_layers} exceeds num_layers {self.num_layers}")
        if self.sliding_layers and self.sliding_window is None:
            raise ValueError(f"sliding_layers {self.sliding_layers} needs a sliding_window")
        linear = self.linear_attention.layers if self.linear_attention is not None else 0
        if linear and linear + self.sliding_layers >= self.num_layers:
            raise ValueError(f"linear_attention.layers {linear} and sliding_layers {self.sliding_layers} leave no"
                             f" full-attention layer of {self.num_layers}")
        return self

    @property
    def attention_layers(self) -> int:
        """Layers with softmax attention (sliding-window ones included): they keep a KV cache."""
        return self.num_layers - (self.linear_attention.layers if self.linear_attention is not None else 0)

    @property
    def q_width(self) -> int:
        """Width of all query heads together (hidden_size unless head_dim is set apart from it)."""
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        """Width of all key (or value) heads together."""
        return self.num_kv_heads * self.head_dim

    @property
    def active_intermediate_size(self) -> float:
        """The MLP width a token passes through on average over the layers (MoE: its active experts)."""
        return self._mean_mlp_width(None if self.moe is None else self.moe.experts_per_token)

    @property
    def stored_intermediate_size(self) -> float:
        """The MLP width held in memory on average over the layers (MoE: every expert)."""
        return self._mean_mlp_width(None if self.moe is None else self.moe.num_experts)

    @property
    def router_width(self) -> float:
        """Router weights per layer, averaged over the layers: d x experts in each sparse layer (0 dense)."""
        if self.moe is None:
            return 0.0
        # a shared expert is scaled by its own d -> 1 gate (Qwen3.5-MoE)
        gates = self.moe.num_experts + (1 if self.moe.shared_expert_intermediate_size else 0)
        return self.hidden_size * gates * self.moe.layers / self.num_layers

    def _mean_mlp_width(self, experts: int | None) -> float:
        """Dense layers' width and sparse layers' ``experts`` experts (plus a shared one), averaged."""
        if self.moe is None or experts is None:
            return float(self.intermediate_size)
        moe = self.moe
        sparse = experts * moe.expert_intermediate_size + moe.shared_expert_intermediate_size
        return (moe.layers * sparse + (self.num_layers - moe.layers) * self.intermediate_size) / self.num_layers


class VisionSpec(Schema):
    """The vision encoder; ``image_size`` is the side the family feeds it by default."""

    name: str
    image_size: PositiveInt
    patch_size: PositiveInt
    num_layers: PositiveInt
    hidden_size: PositiveInt
    num_heads: PositiveInt
    intermediate_size: PositiveInt
    spatial_merge_size: PositiveInt = Field(
        1, description="patches merged per side before the LLM (2 for Qwen2-VL's 2x2 merge)"
    )
    deepstack_layers: NonNegativeInt = Field(
        0, description="vision layers whose features a merger of their own also feeds to early LLM layers"
                       " (Qwen3-VL's DeepStack)")
    position_embeddings: NonNegativeInt = Field(
        0, description="rows of a learned position table the tower interpolates to each image (Qwen3-VL);"
                       " 0: none or counted by the family")


class ModelSpec(Schema):
    """One VLM checkpoint. ``checkpoint`` is its Hugging Face id (or a local name)."""

    checkpoint: str = Field(min_length=1)
    model_type: str = Field(min_length=1, description="the HF model_type: its family")
    display_name: str
    llm: LlmSpec
    vision: VisionSpec
    projector: str = Field(description="how vision features reach the LLM, e.g. mlp2x_gelu")
    native_visual_tokens: PositiveInt = Field(
        description="visual tokens one image at vision.image_size produces without compression"
    )
    public_checkpoint: bool = Field(
        True, description="False when the weights were never released (the paper's grid)"
    )
    source: str = Field(description="where the architecture numbers come from")
    note: str = ""

    @field_validator("checkpoint")
    @classmethod
    def _no_key_separators(cls, value: str) -> str:
        if "+" in value or "@" in value or value != value.strip():
            raise ValueError("a checkpoint id may not contain '+', '@' or surrounding spaces")
        return value

    @property
    def family(self) -> str:
        return self.model_type
