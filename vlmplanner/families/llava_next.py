"""LLaVA-NeXT / LLaVA-1.6 (``model_type: llava_next``): LLaVA with "anyres" tiling.

An image is matched to the best of ``image_grid_pinpoints`` (a grid of tower-sized tiles), encoded as
one downscaled base view plus every tile, and the tile features are un-padded back to the image's
aspect ratio with one learned newline token per feature row. Visual tokens per image are therefore

    base (side/patch)²  +  rows × cols of the un-padded tile grid  +  rows (newlines)

which depends on the image size: 2928 for a 672×672 image on LLaVA-1.6 (336 px tiles, 2×2 grid).
``spec_from_config`` records that 2×2-grid count as ``native_visual_tokens``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec

from ._config import LIMITS, Section
from .geometry import DEFAULT_PINPOINTS, anyres_layout, best_resolution
from .llava import CLS_TOKENS, TINY_SIDE, LlavaFamily
from .vision import VisionProfile, clip_anyres

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["DEFAULT_PINPOINTS", "LlavaNextFamily", "anyres_layout", "best_resolution", "pinpoints_in"]

#: At most this many pinpoints, each side at most the largest image side accepted (LIMITS).
MAX_PINPOINTS = 1024


def pinpoints_in(config: Mapping[str, Any] | Any,
                 default: Sequence[tuple[int, int]] = DEFAULT_PINPOINTS) -> list[tuple[int, int]]:
    """``image_grid_pinpoints`` of a config.json (or a transformers config), checked; ``default`` if absent."""
    raw = config.get("image_grid_pinpoints") if isinstance(config, Mapping) else config.image_grid_pinpoints
    if raw is None:
        return list(default)
    shape = f"config.json image_grid_pinpoints must be up to {MAX_PINPOINTS} [height, width] pairs of positive integers"
    try:
        pairs = [(h, w) for h, w in raw]
    except (TypeError, ValueError):
        raise ValidationError(f"{shape}, got {raw!r}", field="image_grid_pinpoints", value=raw) from None
    if not pairs or len(pairs) > MAX_PINPOINTS or any(
            isinstance(v, bool) or not isinstance(v, int) or v <= 0 for pair in pairs for v in pair):
        raise ValidationError(f"{shape}, got {raw!r}"[:300], field="image_grid_pinpoints", value=raw)
    side = LIMITS["image_size"]
    for h, w in pairs:
        if max(h, w) > side:
            raise ValidationError(f"config.json image_grid_pinpoints holds {h}x{w}, above the {side:g} px side"
                                  " vlmplanner accepts: check the file", field="image_grid_pinpoints", value=[h, w])
    return pairs


class LlavaNextFamily(LlavaFamily):
    """``llava_next``: LlavaNextForConditionalGeneration with LlavaNextProcessor (anyres)."""

    model_type: ClassVar[str] = "llava_next"
    config_class: ClassVar[str] = "LlavaNextConfig"
    model_class: ClassVar[str] = "LlavaNextForConditionalGeneration"
    processor_class: ClassVar[str] = "LlavaNextProcessor"
    image_processor_class: ClassVar[str] = "LlavaNextImageProcessorPil"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:LlavaNextSeam"
    input_resize: ClassVar[bool] = True   # anyres: a smaller image gets a smaller grid of tiles

    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        """Anyres crops, unless the model's native count is one crop's grid (the paper's grid models)."""
        v = spec.vision
        grid = v.image_size // v.patch_size
        if spec.native_visual_tokens == grid * grid:
            return super().vision_profile(spec, image_size)
        return clip_anyres(v.image_size, v.patch_size, v.num_layers, v.hidden_size, v.intermediate_size,
                           spec.native_visual_tokens, image_size)

    def reference_image(self, spec: ModelSpec) -> tuple[int, int]:
        """A (2·side)x(2·side) image (2x2 tiles and the base view), unless the model's native count
        is one crop's grid (the paper's grid models: the tower's square)."""
        v = spec.vision
        grid = v.image_size // v.patch_size
        if spec.native_visual_tokens == grid * grid:
            return super().reference_image(spec)
        return 2 * v.image_size, 2 * v.image_size

    def native_token_range(self, spec: ModelSpec) -> tuple[int, int]:
        """At least the base crop, at most the largest pinpoint layout."""
        v = spec.vision
        grid = v.image_size // v.patch_size
        if spec.native_visual_tokens == grid * grid:
            return super().native_token_range(spec)
        side = v.image_size
        layouts = [self.visual_tokens(spec, (h * side // 336, w * side // 336)) for h, w in DEFAULT_PINPOINTS]
        return grid * grid, max(*layouts, spec.native_visual_tokens)

    def jit_traceable(self) -> contextlib.AbstractContextManager[Any]:
        """``unpad_image`` computes ``round(size * scale)`` from ``tensor.shape``, which a jit trace turns
        into tensors; ``compat.traceable_llava_next`` does the same arithmetic on Python ints."""
        return compat.traceable_llava_next(self.model_type)

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """LLaVA's layout plus LLaVA-1.6's pinpoints and image-newline parameter."""
        config = super().config_from_spec(spec)
        config["image_grid_pinpoints"] = [list(p) for p in DEFAULT_PINPOINTS]
        config["use_image_newline_parameter"] = True
        return config

    def max_crops(self, config: Mapping[str, Any] | None, side: int) -> int:
        """1 base view + the largest pinpoint's tiles (the config's pinpoints, else the family's defaults)."""
        pins = (config or {}).get("image_grid_pinpoints") or self._default_pinpoints(side)
        return 1 + max((int(h) // side) * (int(w) // side) for h, w in pins)

    # the anyres rules a subclass changes (LLaVA-OneVision) ------------------------------------------
    def _default_pinpoints(self, side: int) -> Sequence[tuple[int, int]]:
        """The pinpoints a config without ``image_grid_pinpoints`` has (LlavaNextConfig's)."""
        return DEFAULT_PINPOINTS

    def _unsized_image(self, pinpoints: Sequence[tuple[int, int]], side: int) -> tuple[int, int]:
        """The image a layout of no given size is of: 2x2 tiles."""
        return 2 * side, 2 * side

    def _max_tiles(self, aspect_ratio: Any) -> int | None:
        """The ceiling the tile features are pooled to (None: not pooled)."""
        return None

    def _native_tokens(self, config: Mapping[str, Any], top: Section, side: int, patch: int, cls: int,
                       strategy: str) -> tuple[int, str]:
        pins = pinpoints_in(config)
        tokens, crops = anyres_layout(2 * side, 2 * side, side=side, patch=patch, pinpoints=pins,
                                      cls_tokens=cls, strategy=strategy)
        return tokens, (f"native_visual_tokens {tokens} at a {2 * side}x{2 * side} image ({crops} crops of"
                        f" {side}px: base view + tiles; anyres un-padded grid + newline tokens); other image"
                        " sizes give other counts")

    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        data = super()._tiny_dict(tokenizer)
        data["image_grid_pinpoints"] = [[h * TINY_SIDE // 336, w * TINY_SIDE // 336] for h, w in DEFAULT_PINPOINTS]
        return data

    def _image_processor(self, config: PretrainedConfig) -> Any:
        side = config.vision_config.image_size
        cls = compat.transformers_class(self.image_processor_class)
        return cls(size={"shortest_edge": side}, crop_size={"height": side, "width": side},
                   image_grid_pinpoints=[list(p) for p in pinpoints_in(config)])

    def _image_layout(self, config: PretrainedConfig,
                      image_size: tuple[int, int] | None) -> tuple[int, tuple[int, ...], dict[str, Any]]:
        vision = config.vision_config
        side, patch = vision.image_size, vision.patch_size
        pins = pinpoints_in(config, self._default_pinpoints(side))
        height, width = image_size or self._unsized_image(pins, side)
        tokens, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=pins,
                                      cls_tokens=CLS_TOKENS.get(vision.model_type, 0),
                                      strategy=config.vision_feature_select_strategy,
                                      max_tiles=self._max_tiles(getattr(config, "vision_aspect_ratio", None)))
        return tokens, (crops, 3, side, side), {"image_sizes": [height, width]}

