"""Content-blind compressors: ``none`` (identity) and ``pool`` (2-D average pooling)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import grid_positions
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch.nn.functional as F
    from torch import Tensor
else:
    F = require("torch.nn.functional", feature="compressors none and pool")

__all__ = ["NoCompression", "PoolCompressor"]


class NoCompression(Compressor):
    """Every token, unchanged: k must equal the native count."""

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["none"]

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        h, w = context.grid
        positions = grid_positions(h, w, features.device).expand(features.shape[0], -1, -1)
        return CompressionOutput(features, positions.clone())


class PoolCompressor(Compressor):
    """Average-pool the h x w patch grid with f x f windows to (h/f)·(w/f) = k tokens.

    Training-free; works before the projector (on vision features) or after it (on LLM-width
    tokens). Each output token sits at the centre of its window.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["pool"]

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        h, w = context.grid
        oh, ow = self.card.output_grid(self.visual_tokens, h * w, (h, w))
        f = h // oh
        batch, _, dim = features.shape
        grid = features.transpose(1, 2).reshape(batch, dim, h, w)
        pooled = F.avg_pool2d(grid, kernel_size=f, stride=f) if f > 1 else grid
        out = pooled.reshape(batch, dim, oh * ow).transpose(1, 2).contiguous()
        centres = grid_positions(oh, ow, features.device) * f + (f - 1) / 2
        return CompressionOutput(out, centres.expand(batch, -1, -1).clone())
