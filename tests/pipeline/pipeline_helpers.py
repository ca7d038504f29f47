"""Helpers of the pipeline tests: tiny models, images, and a recorder of what the LLM receives.

The tiny LLMs have three layers, so FastV's default K = 2 leaves one layer that sees fewer tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmplanner.families import list_families

#: every family with an adapter (the registry is the one list)
FAMILIES = tuple(list_families())
#: LLM layers of the tiny models (FastV prunes before layer 2 by default).
LLM_LAYERS = 3
#: An image size per family whose token grid every test k fits: LLaVA resizes anything to 56 px
#: (4x4 patches); LLaVA-NeXT tiles a square image 2x2 (5 crops of 4x4, 8 newline rows); Qwen merges
#: a 112x112 image into 4x4 tokens.
IMAGE_SIZE = {"llava": (112, 112), "llava_next": (112, 112), "qwen2_vl": (112, 112), "qwen2_5_vl": (112, 112),
              # Qwen3-VL: 12x12 merged tokens (it scales images up to 65,536 pixels: 8x8 at least)
              "qwen3_vl": (384, 384), "qwen3_vl_moe": (384, 384), "qwen3_5": (384, 384),
              "qwen3_5_moe": (384, 384),
              # Gemma 3 resizes anything to its 112 px tower: 8x8 patches pooled to 4x4 tokens
              "gemma3": (96, 144),
              # InternVL: 112 px tiles of 4x4 tokens; a square image is one tile
              "internvl": (112, 112),
              # LLaVA-OneVision: 56 px tiles, a square image 2x2 (5 crops of 4x4, 8 newline rows)
              "llava_onevision": (112, 112)}


def make_image(height: int, width: int, seed: int = 0) -> Any:
    import numpy as np
    from PIL import Image

    pixels = np.random.RandomState(seed).randint(0, 255, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@dataclass
class SavedModel:
    family: str
    directory: Path
    key_model: str
    tiny: Any
    spec: Any


def build(family: str, **overrides: Any) -> Any:
    from vlmplanner.families import get_family

    text = {"num_hidden_layers": LLM_LAYERS, **overrides.pop("text_config", {})}
    return get_family(family).build_tiny(seed=0, text_config=text, **overrides)


class LLMRecorder:
    """Forward pre-hooks on the language model and each of its layers: the sequence length each
    sees at the prefill (the first call after ``reset``)."""

    def __init__(self, model: Any) -> None:
        language_model = model.model.language_model
        self.embeds: list[int] = []
        self.layers: dict[int, int] = {}
        self.batches: list[int] = []
        self.handles = [language_model.register_forward_pre_hook(self._llm, with_kwargs=True)]
        for index, layer in enumerate(language_model.layers):
            self.handles.append(layer.register_forward_pre_hook(
                lambda module, args, kwargs, index=index: self._layer(index, args, kwargs), with_kwargs=True))

    def _llm(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is not None:        # the prompt pass (QueCC's query pass sends input_ids instead)
            self.embeds.append(int(embeds.shape[1]))
            self.batches.append(int(embeds.shape[0]))

    def _layer(self, index: int, args: Any, kwargs: dict[str, Any]) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        if len(self.embeds) == 1 and index not in self.layers:
            self.layers[index] = int(hidden.shape[1])

    @property
    def prefill(self) -> int:
        return self.embeds[0]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
