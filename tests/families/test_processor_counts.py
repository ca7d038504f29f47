"""The family's token count of an image equals what the checkpoint's own image processor gives.

The processor is built from the ``preprocessor_config.json`` shipped beside a checkpoint's
config.json (its real pixel bounds, patch and merge sizes), and run on images of each size.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _extras import TORCH_STACK, need
from family_data import HF_CONFIGS

need(*TORCH_STACK)

import numpy as np
from PIL import Image

from vlmplanner import compat
from vlmplanner.families import get_family, has_family, spec_from_config

#: (height, width): tiny (scaled up to the minimum), square, portrait, panorama, a 4K frame.
SIZES = [(40, 60), (256, 256), (448, 448), (1080, 1920), (1500, 500), (300, 2000), (2160, 3840)]


def _shipped() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in sorted(HF_CONFIGS.glob("*/*/preprocessor_config.json")):
        config = json.loads((path.parent / "config.json").read_text())
        # the native-resolution families (Gemma 3's fixed count: tests/families/test_gemma3.py)
        if has_family(config.get("model_type")) and get_family(config["model_type"]).token_shares:
            found.append((f"{path.parent.parent.name}/{path.parent.name}", config, json.loads(path.read_text())))
    return found


SHIPPED = _shipped()


def test_the_native_resolution_families_ship_a_preprocessor_config() -> None:
    assert {config["model_type"] for _, config, _ in SHIPPED} >= {"qwen3_vl"}


def _image_processor(settings: dict[str, Any]) -> Any:
    """The checkpoint's image processor class, its PIL variant (the fast one needs torchvision)."""
    name = settings["image_processor_type"].removesuffix("Fast")
    settings = {k: v for k, v in settings.items() if k not in ("image_processor_type", "processor_class")}
    return compat.transformers_class(f"{name}Pil")(**settings)


@pytest.mark.parametrize(("checkpoint", "config", "settings"), SHIPPED, ids=[c for c, _, _ in SHIPPED])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_visual_tokens_equal_the_checkpoints_processor(checkpoint: str, config: dict[str, Any],
                                                       settings: dict[str, Any], size: tuple[int, int]) -> None:
    family = get_family(config["model_type"])
    spec = spec_from_config(config, checkpoint=checkpoint, source="test")
    processor = _image_processor(settings)
    pixels = np.random.RandomState(0).randint(0, 255, (*size, 3), dtype=np.uint8)
    out = processor(images=[Image.fromarray(pixels)], return_tensors="pt")
    merge = settings["merge_size"]
    produced = int(out["image_grid_thw"][0].prod()) // (merge * merge)
    assert family.visual_tokens(spec, size) == produced
