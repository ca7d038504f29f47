"""Qwen2.5-VL (``model_type: qwen2_5_vl``): Qwen2-VL's token layout with a windowed, gated ViT.

Token counting, inputs and components are Qwen2-VL's. The vision config differs: ``hidden_size``
is the ViT width (Qwen2-VL calls it ``embed_dim``), ``intermediate_size`` is given directly (a
SwiGLU MLP), and most layers attend within ``window_size`` px windows except
``fullatt_block_indexes``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vlmplanner.schemas import ModelSpec

from ._config import Section
from .qwen2_vl import Qwen2VLFamily
from .vision import QWEN25_FULL_ATTENTION_LAYERS, QWEN25_WINDOW_PX

__all__ = ["Qwen2_5_VLFamily"]


class Qwen2_5_VLFamily(Qwen2VLFamily):
    """``qwen2_5_vl``: Qwen2_5_VLForConditionalGeneration with Qwen2_5_VLProcessor (images only)."""

    model_type: ClassVar[str] = "qwen2_5_vl"
    config_class: ClassVar[str] = "Qwen2_5_VLConfig"
    model_class: ClassVar[str] = "Qwen2_5_VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen2_5_VLProcessor"
    text_type: ClassVar[str] = "qwen2_5_vl_text"
    vision_type: ClassVar[str] = "qwen2_5_vl_vision"
    gated_vit: ClassVar[bool] = True

    def _vision_config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        vision = spec.vision
        return {**self._common_vision(spec), "hidden_size": vision.hidden_size,
                "intermediate_size": vision.intermediate_size, "out_hidden_size": spec.llm.hidden_size,
                "window_size": QWEN25_WINDOW_PX, "fullatt_block_indexes": list(QWEN25_FULL_ATTENTION_LAYERS),
                "hidden_act": "silu"}

    def full_attention_layers(self, layers: int) -> int:
        """fullatt_block_indexes of every released config, below the depth."""
        return sum(1 for index in QWEN25_FULL_ATTENTION_LAYERS if index < layers)

    def _vision_numbers(self, vision: Section) -> dict[str, int]:
        return {"hidden_size": vision.positive_int("hidden_size"),
                "intermediate_size": vision.positive_int("intermediate_size")}

    def _tiny_vision(self) -> dict[str, Any]:
        # window_size 56 px = 2x2 merged tokens per window; block 1 of 2 attends globally
        return {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "out_hidden_size": 32, "num_heads": 2,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
                "fullatt_block_indexes": [1]}
