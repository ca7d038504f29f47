"""ModelSpec: the architecture numbers of one VLM checkpoint, as its config.json gives them."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from ._base import Schema

__all__ = ["LlmSpec", "ModelSpec", "VisionSpec"]


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

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


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
