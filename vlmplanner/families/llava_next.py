"""LLaVA-NeXT / LLaVA-1.6 (``model_type: llava_next``): LLaVA with "anyres" tiling.

An image is matched to the best of ``image_grid_pinpoints`` (a grid of tower-sized tiles), encoded as
one downscaled base view plus every tile, and the tile features are un-padded back to the image's
aspect ratio with one learned newline token per feature row. Visual tokens per image are therefore

    base (side/patch)²  +  rows × cols of the un-padded tile grid  +  rows (newlines)

which depends on the image size: 2928 for a 672×672 image on LLaVA-1.6 (336 px tiles, 2×2 grid).
``spec_from_config`` records that 2×2-grid count as ``native_visual_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import ValidationError

from ._config import LIMITS, Section
from .llava import CLS_TOKENS, TINY_SIDE, LlavaFamily

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["DEFAULT_PINPOINTS", "LlavaNextFamily", "anyres_layout"]

#: LlavaNextConfig's default image_grid_pinpoints (height, width), for 336 px tiles.
DEFAULT_PINPOINTS: tuple[tuple[int, int], ...] = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))


def best_resolution(height: int, width: int, pinpoints: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The pinpoint that keeps the most of the image's pixels, then wastes the fewest (HF's rule)."""
    best: tuple[int, int] | None = None
    best_effective, best_waste = 0, float("inf")
    for pin_h, pin_w in pinpoints:
        scale = min(pin_w / width, pin_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        waste = pin_w * pin_h - effective
        if effective > best_effective or (effective == best_effective and waste < best_waste):
            best, best_effective, best_waste = (pin_h, pin_w), effective, waste
    if best is None:
        raise ValidationError("image_grid_pinpoints is empty", field="image_grid_pinpoints", value=list(pinpoints))
    return best


def anyres_layout(height: int, width: int, *, side: int, patch: int, pinpoints: Sequence[Sequence[int]],
                  cls_tokens: int = 1, strategy: str = "default") -> tuple[int, int]:
    """(visual tokens, crops) of one ``height`` × ``width`` image, as LlavaNextProcessor counts them.

    crops = 1 base view + the tiles of the chosen pinpoint; the model encodes every crop.
    """
    best_h, best_w = best_resolution(height, width, pinpoints)
    grid = side // patch
    rows, cols = grid * (best_h // side), grid * (best_w // side)
    if width / height > cols / rows:  # wider than the tile grid: rows of padding removed
        kept = int(round(height * (cols / width), 7))
        rows -= 2 * ((rows - kept) // 2)
    else:
        kept = int(round(width * (rows / height), 7))
        cols -= 2 * ((cols - kept) // 2)
    base = grid * grid + cls_tokens - (1 if strategy == "default" else 0)
    crops = 1 + (best_h // side) * (best_w // side)
    return base + rows * cols + rows, crops


#: At most this many pinpoints, each side at most the largest image side accepted (LIMITS).
MAX_PINPOINTS = 1024


def _pinpoints(config: Mapping[str, Any] | Any) -> list[tuple[int, int]]:
    raw = config.get("image_grid_pinpoints") if isinstance(config, Mapping) else config.image_grid_pinpoints
    if raw is None:
        return list(DEFAULT_PINPOINTS)
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

    def _native_tokens(self, config: Mapping[str, Any], top: Section, side: int, patch: int, cls: int,
                       strategy: str) -> tuple[int, str]:
        pins = _pinpoints(config)
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
                   image_grid_pinpoints=[list(p) for p in _pinpoints(config)])

    def _image_layout(self, config: PretrainedConfig,
                      image_size: tuple[int, int] | None) -> tuple[int, tuple[int, ...], dict[str, Any]]:
        vision = config.vision_config
        side, patch = vision.image_size, vision.patch_size
        height, width = image_size or (2 * side, 2 * side)
        tokens, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=_pinpoints(config),
                                      cls_tokens=CLS_TOKENS.get(vision.model_type, 0),
                                      strategy=config.vision_feature_select_strategy)
        return tokens, (crops, 3, side, side), {"image_sizes": [height, width]}

