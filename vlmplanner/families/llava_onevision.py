"""LLaVA-OneVision (``model_type: llava_onevision``): LLaVA-NeXT's anyres tiling on a SigLIP tower,
with the tile features pooled to a ceiling ("anyres_max_9") and a Qwen2 LLM.

An image is matched to the best of ``image_grid_pinpoints`` (every grid of 1-6 x 1-6 tiles of
384 px by default), encoded as a base view plus every tile (27x27 = 729 SigLIP patches each, no
CLS), projected, and the tile features are un-padded to the image's aspect ratio. When that grid
holds more than about nine tiles' features (1.1 x the side of 9 x 729), it is interpolated down to
about nine tiles' worth. One learned newline token follows each feature row. Visual tokens per
image are therefore

    729 base  +  rows x cols of the (pooled) un-padded tile grid  +  rows (newlines)

which depends on the image size: 7371 at the largest pinpoint, 2304x2304 (36 tiles and the base
view; the 162x162 grid pooled to 81x81), the reference image ``native_visual_tokens`` counts.

A compressor runs per crop (k / 37 on each of the base view and the tiles, as on LLaVA-NeXT); the
newline tokens follow the rows the model would have kept after its own pooling (the seam,
``LlavaOnevisionSeam``). A request with several images is encoded by the model as base views
only; the cost model counts one-image requests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec

from ._config import Section
from .geometry import ONEVISION_PINPOINTS, anyres_layout
from .llava import STRATEGIES
from .llava_next import LlavaNextFamily, pinpoints_in
from .vision import VisionProfile, check_image_size, siglip_anyres

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["LlavaOnevisionFamily"]

#: ``vision_aspect_ratio`` of every released checkpoint: pool the tile features to ~9 tiles' worth.
MAX_TILES = 9
_ASPECT = re.compile(r"anyres_max_([1-9][0-9]{0,2})")
#: The pinpoints' tile side: LlavaOnevisionConfig's default pinpoints are multiples of 384 px.
PINPOINT_TILE = 384
#: The tiny model's tower: SigLIP-like 56 px / patch 14 (4x4 patches a crop).
TINY_SIDE = 56


def default_pinpoints(side: int) -> list[tuple[int, int]]:
    """LlavaOnevisionConfig's pinpoints for a tower of ``side`` px (1-6 x 1-6 tiles)."""
    return [(h * side // PINPOINT_TILE, w * side // PINPOINT_TILE) for h, w in ONEVISION_PINPOINTS]


def largest(pinpoints: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The pinpoint of the most pixels: the image with the most crops."""
    return max(pinpoints, key=lambda p: p[0] * p[1])


def max_tiles_of(aspect_ratio: Any) -> int:
    """N of ``vision_aspect_ratio: anyres_max_N`` (absent: the releases' 9); only N = 9 is costed."""
    value = f"anyres_max_{MAX_TILES}" if aspect_ratio is None else aspect_ratio
    found = _ASPECT.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationError(f"config.json vision_aspect_ratio must be 'anyres_max_N', got {value!r}",
                              field="vision_aspect_ratio", value=value)
    if int(found.group(1)) != MAX_TILES:
        raise ValidationError(
            f"config.json vision_aspect_ratio {value!r}: vlmplanner's llava_onevision cost model pools the tile"
            f" features to anyres_max_{MAX_TILES}, as every released checkpoint does", field="vision_aspect_ratio",
            value=value)
    return MAX_TILES


class LlavaOnevisionFamily(LlavaNextFamily):
    """``llava_onevision``: LlavaOnevisionForConditionalGeneration with LlavaOnevisionProcessor (images)."""

    model_type: ClassVar[str] = "llava_onevision"
    config_class: ClassVar[str] = "LlavaOnevisionConfig"
    model_class: ClassVar[str] = "LlavaOnevisionForConditionalGeneration"
    processor_class: ClassVar[str] = "LlavaOnevisionProcessor"
    image_processor_class: ClassVar[str] = "LlavaOnevisionImageProcessorPil"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:LlavaOnevisionSeam"
    #: SigLIP has no [CLS] token, so the CLS-attention methods do not apply
    seam_inputs: ClassVar[frozenset[str]] = frozenset({"query", "multi_layer_features"})
    special_tokens: ClassVar[dict[str, str]] = {"image_token": "<image>", "video_token": "<video>"}
    #: the processor decides tiling by the images of each prompt (several: base views only)
    images_by_prompt: ClassVar[bool] = True
    images_only: ClassVar[bool] = True
    #: LLaVA-OneVision's image token id in llava-hf configs (151646, after Qwen2's vocabulary)
    image_token_index: ClassVar[int] = 151646

    # -- the cost model and the token rules ------------------------------------------------------
    def reference_image(self, spec: ModelSpec) -> tuple[int, int]:
        """The largest default pinpoint (2304x2304 at 384 px): the most crops an image has, so a
        compressor's k / crops per crop fits every image."""
        return largest(default_pinpoints(spec.vision.image_size))

    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        check_image_size(image_size)
        return siglip_anyres(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                             v.intermediate_size, image=image_size or self.reference_image(spec),
                             pinpoints=default_pinpoints(v.image_size), max_tiles=MAX_TILES)

    def native_token_range(self, spec: ModelSpec) -> tuple[int, int]:
        """Over images the size of each default pinpoint: one tile (plus the base view) to the
        largest grid the pooling leaves as it is."""
        counts = [self.visual_tokens(spec, pin) for pin in default_pinpoints(spec.vision.image_size)]
        return min(counts), max(*counts, spec.native_visual_tokens)

    def _default_pinpoints(self, side: int) -> Sequence[tuple[int, int]]:
        return default_pinpoints(side)

    def _unsized_image(self, pinpoints: Sequence[tuple[int, int]], side: int) -> tuple[int, int]:
        return largest(pinpoints)

    def _max_tiles(self, aspect_ratio: Any) -> int | None:
        return max_tiles_of(aspect_ratio)

    # -- config.json -> ModelSpec --------------------------------------------------------------
    def _strategy(self, top: Section) -> str:
        strategy = top.string("vision_feature_select_strategy", "full")
        if strategy != "full":
            raise ValidationError(
                "config.json vision_feature_select_strategy must be 'full' for llava_onevision (a SigLIP tower has"
                f" no CLS token to drop; 'default' would drop a patch), got {strategy!r}"
                + ("" if strategy in STRATEGIES else f"; known strategies: {', '.join(STRATEGIES)}"),
                field="vision_feature_select_strategy", value=strategy)
        return strategy

    def _sections(self, config: Mapping[str, Any]) -> tuple[Section, Section, Section, str, str]:
        sections = super()._sections(config)
        if sections[4] != "siglip_vision_model":
            raise ValidationError(
                f"the llava_onevision adapter supports a siglip_vision_model tower; config.json has"
                f" vision_config.model_type {sections[4]!r}", field="vision_config.model_type", value=sections[4])
        return sections

    def _native_tokens(self, config: Mapping[str, Any], top: Section, side: int, patch: int, cls: int,
                       strategy: str) -> tuple[int, str]:
        max_tiles = max_tiles_of(top.raw("vision_aspect_ratio", None))
        pins = pinpoints_in(config, default_pinpoints(side))
        height, width = largest(pins)
        tokens, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=pins, cls_tokens=cls,
                                      strategy=strategy, max_tiles=max_tiles)
        return tokens, (f"native_visual_tokens {tokens} at a {height}x{width} image (the largest pinpoint: {crops}"
                        f" crops of {side}px, base view + tiles; the un-padded tile grid pooled to about"
                        f" {max_tiles} tiles' features, plus newline tokens); other image sizes give other counts")

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """llava-hf's LLaVA-OneVision layout: a SigLIP tower (full features, last layer), a Qwen2 LLM,
        the default pinpoints and anyres_max_9."""
        config = super().config_from_spec(spec)
        vision = spec.vision
        config["vision_config"] = {
            "model_type": "siglip_vision_model", "hidden_size": vision.hidden_size,
            "intermediate_size": vision.intermediate_size, "num_hidden_layers": vision.num_layers,
            "num_attention_heads": vision.num_heads, "image_size": vision.image_size,
            "patch_size": vision.patch_size, "vision_use_head": False,
        }
        config["text_config"]["model_type"] = "qwen2"
        config.update(vision_feature_layer=-1, vision_feature_select_strategy="full",
                      vision_aspect_ratio=f"anyres_max_{MAX_TILES}",
                      image_grid_pinpoints=[list(p) for p in default_pinpoints(vision.image_size)])
        config.pop("use_image_newline_parameter", None)
        return config

    # -- tiny, offline ----------------------------------------------------------------------
    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        data = super()._tiny_dict(tokenizer)
        data["vision_config"] = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                                 "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": TINY_SIDE,
                                 "patch_size": 14, "vision_use_head": False}
        data["text_config"]["model_type"] = "qwen2"
        data.update(vision_feature_layer=-1, vision_feature_select_strategy="full",
                    vision_aspect_ratio=f"anyres_max_{MAX_TILES}",
                    image_grid_pinpoints=[list(p) for p in default_pinpoints(TINY_SIDE)],
                    video_token_index=tokenizer.convert_tokens_to_ids("<video>"))
        return data

    def _image_processor(self, config: PretrainedConfig) -> Any:
        side = config.vision_config.image_size
        cls = compat.transformers_class(self.image_processor_class)
        return cls(size={"height": side, "width": side},
                   image_grid_pinpoints=[list(p) for p in pinpoints_in(config, default_pinpoints(side))])

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        vision = config.vision_config
        return self._processor_cls()(image_processor=self._image_processor(config), tokenizer=tokenizer,
                                     num_image_tokens=(vision.image_size // vision.patch_size) ** 2,
                                     vision_feature_select_strategy=config.vision_feature_select_strategy,
                                     vision_aspect_ratio=config.vision_aspect_ratio)
