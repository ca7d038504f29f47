"""Content-blind token sampling: ``random``, ``spatial-sampling`` and ``sequential-sampling``.

The three keep k of the N patch tokens by position alone, so they read nothing from the model but
the patch grid, work with any attention kernel, and serve every family. They are the baselines the
learned and attention-driven compressors are measured against (random token selection is one
recent benchmarks found hard to beat; spatial and first-N sampling are LLaVA-PruMerge's ablation
baselines). Each keeps the same indices for every image of a grid, so a batch equals its items.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import gather_tokens, grid_positions
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressors random, spatial-sampling and sequential-sampling")

__all__ = ["RandomPruning", "SequentialSampling", "SpatialSampling", "spatial_grid_shape", "spread_indices"]


def spread_indices(n: int, k: int) -> list[int]:
    """k of range(n) evenly spaced: the centre of each of k equal slices, ``floor((i + 0.5)·n/k)``."""
    return [math.floor((i + 0.5) * n / k) for i in range(k)]


def spatial_grid_shape(h: int, w: int, k: int) -> tuple[int, int] | None:
    """The (rows, cols) of a uniform sub-grid of k points on an h x w grid, or None.

    A sub-grid needs rows·cols = k, rows <= h and cols <= w, and an aspect ratio within a factor 2
    of the grid's (so k = 7 on 24 x 24 is not squeezed into one row of 7). Among those, the one
    closest to the grid's aspect wins; ties go to more rows.
    """
    best: tuple[float, int, int] | None = None
    for rows in range(1, min(h, k) + 1):
        if k % rows:
            continue
        cols = k // rows
        if cols > w:
            continue
        skew = abs(math.log((rows / cols) / (h / w)))
        if skew > math.log(2) + 1e-12:
            continue
        if best is None or skew < best[0] - 1e-12 or (abs(skew - best[0]) <= 1e-12 and rows > best[1]):
            best = (skew, rows, cols)
    return None if best is None else (best[1], best[2])


class _Sampler(Compressor):
    """Keeps the tokens at :meth:`indices` (ascending raster indices, the same for every image)."""

    @abc.abstractmethod
    def indices(self, h: int, w: int) -> Tensor:
        """The k kept raster indices of an h x w grid, ascending, ``LongTensor [k]`` on the CPU."""

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        h, w = context.grid
        batch = features.shape[0]
        keep = self.indices(h, w).to(features.device)
        positions = grid_positions(h, w, features.device)[keep]
        index = keep.unsqueeze(0).expand(batch, -1)
        return CompressionOutput(gather_tokens(features, index), positions.expand(batch, -1, -1).clone())


class RandomPruning(_Sampler):
    """Random pruning: k tokens drawn uniformly without replacement, kept in raster order.

    Deterministic: the draw is ``torch.randperm(N)`` from a CPU generator seeded with ``seed``
    (default 0), taken once per call and shared by every image, so the result does not depend on
    the device, the batch or the global RNG -- a fixed random mask per (seed, grid, k). Pass a
    different ``seed`` for another draw.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["random"]

    def __init__(self, visual_tokens: int, *, seed: int = 0, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValidationError(f"random: seed must be an integer >= 0, got {seed!r}", field="seed", value=seed)
        self.seed = seed

    def __repr__(self) -> str:
        return f"RandomPruning(visual_tokens={self.visual_tokens}, seed={self.seed})"

    def indices(self, h: int, w: int) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randperm(h * w, generator=generator)[: self.visual_tokens].sort().values


class SpatialSampling(_Sampler):
    """Spatial uniform sampling: the tokens on a uniform rows x cols sub-grid of the patch grid.

    When k factors into a sub-grid close to the grid's aspect (:func:`spatial_grid_shape`: 144 ->
    12 x 12, 36 -> 6 x 6, 48 -> 8 x 6), row i of the sub-grid is patch row
    ``floor((i + 0.5)·h/rows)`` (the centre of its band), and likewise for columns. Otherwise (k = 7,
    or a prime above the grid's side) the k tokens are evenly spaced in raster order,
    ``floor((i + 0.5)·N/k)``, so the count is always exactly k.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["spatial-sampling"]

    def indices(self, h: int, w: int) -> Tensor:
        k = self.visual_tokens
        shape = spatial_grid_shape(h, w, k)
        if shape is None:
            return torch.tensor(spread_indices(h * w, k), dtype=torch.long)
        rows = torch.tensor(spread_indices(h, shape[0]), dtype=torch.long)
        cols = torch.tensor(spread_indices(w, shape[1]), dtype=torch.long)
        return (rows.unsqueeze(1) * w + cols.unsqueeze(0)).flatten()


class SequentialSampling(_Sampler):
    """Sequential sampling: the first k tokens in raster order (the top rows of the image)."""

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["sequential-sampling"]

    def indices(self, h: int, w: int) -> Tensor:
        return torch.arange(self.visual_tokens, dtype=torch.long)
