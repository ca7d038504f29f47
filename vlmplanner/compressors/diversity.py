"""``divprune``: greedy max-min diversity selection (DivPrune, CVPR'25), from the paper's description.

Attention-free, so it needs nothing from the model but the tokens themselves: it works with
flash/SDPA attention and on every family (the paper runs it on the projected tokens at the LLM input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import gather_tokens, grid_positions, unit
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressor divprune")

__all__ = ["DivPrune", "max_min_diverse"]


def max_min_diverse(features: Tensor, k: int) -> Tensor:
    """Indices ``[B, k]`` (ascending) of a max-min diverse subset under cosine distance.

    First the token whose nearest neighbour is farthest; then, k-1 times, the token whose distance
    to the selected set (its nearest selected token) is largest. Ties go to the lower index.
    """
    batch, n, _ = features.shape
    x = unit(features)
    similarity = torch.bmm(x, x.transpose(1, 2))                           # [B, N, N]: the one N² pass
    similarity.diagonal(dim1=1, dim2=2).fill_(float("-inf"))               # a token is not its own neighbour
    # the distance to the nearest neighbour, 1 - (highest similarity to another token); 1 - x is
    # monotone in floating point, so this is exactly min over j != i of (1 - similarity)
    nearest = 1.0 - similarity.amax(dim=-1) if n > 1 else features.new_zeros(batch, n)
    first = nearest.argmax(dim=-1)                                         # [B]
    rows = torch.arange(batch, device=features.device)
    chosen = [first]
    selected = torch.zeros(batch, n, dtype=torch.bool, device=features.device)
    selected[rows, first] = True
    to_set = 1.0 - similarity[rows, first]                                 # [B, N]; only rows of the
    for _ in range(k - 1):                                                 # matrix are read from here on
        nxt = to_set.masked_fill(selected, float("-inf")).argmax(dim=-1)
        chosen.append(nxt)
        selected[rows, nxt] = True
        to_set = torch.minimum(to_set, 1.0 - similarity[rows, nxt])
    return torch.stack(chosen, dim=1).sort(dim=1).values


class DivPrune(Compressor):
    """Keep a maximally diverse subset of k tokens (max-min cosine distance), in raster order."""

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["divprune"]

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        h, w = context.grid
        keep = max_min_diverse(features, self.visual_tokens)
        return CompressionOutput(gather_tokens(features, keep), grid_positions(h, w, features.device)[keep])
