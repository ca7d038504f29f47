"""Image downsampling (``downsample``): fewer visual tokens by feeding the model a smaller image.

Families whose token count follows the image (Qwen2-VL and Qwen2.5-VL's native resolution,
LLaVA-NeXT's anyres grid) turn a smaller image into fewer tokens by themselves; the vision tower
then also does less work, which no token-level compressor saves. VTC-Bench found this baseline
ahead of FastV, VisionZip, PruMerge+ and DART on Qwen2-VL at every reduction it measured
(reference: compressors.md, simple baselines). For Qwen it is what the processor's ``max_pixels``
does; here it is one rule for every such family:

    each image is scaled, aspect kept, to the largest size the family turns into at most k
    tokens (a share: at most that share of the image's own count).

The token count of an image size is the family adapter's (``vision_profile(spec, size).native``,
the checkpoint's pixel bounds), so the pipeline, the profiler and the planner count alike. Sizing is
plain Python; only :meth:`Downsample.resize_image` needs Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    from torch import Tensor

    from vlmplanner.schemas import ModelSpec

__all__ = ["Downsample", "downsampled_size", "fewest_tokens", "image_tokens", "input_fit", "input_size",
           "resizes_input"]


def resizes_input(card: CompressorCard) -> bool:
    """Whether the compressor works on the input image (before the processor), not on tokens."""
    return card.stage == "input"


def image_tokens(spec: ModelSpec, size: tuple[int, int]) -> int:
    """The visual tokens ``spec``'s processor gives one uncompressed image of ``size`` (height, width)."""
    from vlmplanner.families import get_family

    return get_family(spec.model_type).visual_tokens(spec, size)


def _scaled(size: tuple[int, int], height: int) -> tuple[int, int]:
    """``size`` scaled to ``height`` rows, aspect kept (at least one pixel a side)."""
    return height, max(1, round(size[1] * height / size[0]))


def fewest_tokens(spec: ModelSpec, size: tuple[int, int]) -> int:
    """The fewest tokens any downscale of an image of ``size`` gives (the family's smallest input)."""
    return image_tokens(spec, _scaled(size, 1) if size[0] <= size[1] else (max(1, round(size[0] / size[1])), 1))


def downsampled_size(spec: ModelSpec, size: tuple[int, int], tokens: int) -> tuple[int, int]:
    """The largest downscale of an image of ``size`` (aspect kept) that gives at most ``tokens``;
    ``size`` itself when it already does. InvalidTokenCountError when even the smallest input gives
    more (a floor of the family's: Qwen's min_pixels, LLaVA-NeXT's base view and smallest grid)."""
    if image_tokens(spec, size) <= tokens:
        return size
    low, high = 1, size[0]        # invariant: rows=high gives too many; search the largest that fits
    if image_tokens(spec, _scaled(size, low)) > tokens:
        floor = fewest_tokens(spec, size)
        raise InvalidTokenCountError(
            f"downsample cannot give {spec.checkpoint!r} {tokens} visual tokens: its smallest input"
            f" already gives {floor}", field="visual_tokens", value=tokens,
        )
    while high - low > 1:
        middle = (low + high) // 2
        if image_tokens(spec, _scaled(size, middle)) <= tokens:
            low = middle
        else:
            high = middle
    return _scaled(size, low)


def _reference(spec: ModelSpec) -> tuple[int, int]:
    """The model's reference image: the one its catalog count is for."""
    from vlmplanner.families import get_family

    return get_family(spec.model_type).vision_profile(spec, None).image


def input_size(spec: ModelSpec, size: tuple[int, int] | None, k: int, share: float | None = None) -> tuple[int, int]:
    """The image ``downsample`` at k (or at ``share`` of each image's count) feeds for an image of
    ``size`` (None: the model's reference image)."""
    size = size or _reference(spec)
    native = image_tokens(spec, size)
    target = max(1, round(share * native)) if share is not None else min(k, native)
    return downsampled_size(spec, size, target)


def input_fit(spec: ModelSpec, k: int) -> tuple[str, ...]:
    """Check that downsampling to at most ``k`` tokens means something for ``spec``: k no more than
    the largest image gives (k is a cap: a smaller image is left alone), and reachable from the
    reference image (the catalog's native count) when below its count. The notes to show with it;
    InvalidTokenCountError when it cannot."""
    from vlmplanner.families import get_family

    most = get_family(spec.model_type).native_token_range(spec)[1]
    BUILTIN_CARDS["downsample"].check_tokens(k, most)
    reference = _reference(spec)
    height, width = downsampled_size(spec, reference, k)
    return (f"downsample: each image is scaled down before the processor to the largest size giving at most"
            f" {k} tokens (a {reference[0]}x{reference[1]} image: {height}x{width}, {image_tokens(spec, (height, width))}"
            f" tokens); an image that gives fewer is left as it is; the vision tower runs on the smaller image",)


class Downsample(Compressor):
    """Scales each image down before the processor: the tower and the LLM both see fewer tokens.

    ``visual_tokens`` (k) is the most tokens an image may give; an image that gives fewer already is
    left alone (nothing is upscaled). ``share`` (set by the pipeline for a ``@25%`` key) replaces k
    by that share of each image's own count. Pillow's bicubic filter resizes.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["downsample"]

    def __init__(self, visual_tokens: int, *, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        self.share: float | None = None

    def size_for(self, spec: ModelSpec, size: tuple[int, int]) -> tuple[int, int]:
        """The (height, width) an image of ``size`` is scaled to for ``spec``."""
        return input_size(spec, size, self.visual_tokens, self.share)

    def resize_image(self, image: Any, spec: ModelSpec) -> Any:
        """``image`` (a PIL image) scaled for ``spec``; arrays and tensors are refused (resize them
        yourself, or pass PIL images)."""
        Image = require("PIL.Image", feature="compressor 'downsample'")
        if not isinstance(image, Image.Image):
            raise ValidationError("downsample resizes PIL images (or image files); got"
                                  f" {type(image).__name__}", field="images", value=type(image).__name__)
        height, width = self.size_for(spec, (image.height, image.width))
        if (height, width) == (image.height, image.width):
            return image
        return image.resize((width, height), Image.Resampling.BICUBIC)

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        raise ValidationError("downsample works on the input image, before the vision tower; it has no"
                              " token-level step (load it through vlmplanner.load or wrap)",
                              field="compressor", value=self.name)
