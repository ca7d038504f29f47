"""Merging compressors: ``prumerge`` (LLaVA-PruMerge) and ``tome`` (Token Merging), from the papers.

Both return exactly k tokens whose features fold in the tokens they replace, with positions at the
centroid of what was merged (weighted as the features were). PruMerge shares PruMerge+'s merge
(:class:`~vlmplanner.compressors.attention.PruMergePlus`) and differs only in which tokens it keeps;
ToMe needs nothing from the model but the tokens themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS, tome_schedule
from ._tensor import grid_positions, score_dtype, unit
from .attention import PruMergePlus, _top_sorted
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressors prumerge and tome")

__all__ = ["PruMerge", "ToMe", "bipartite_merge"]


class PruMerge(PruMergePlus):
    """LLaVA-PruMerge (the version without "+"), adapted to keep exactly k tokens.

    The paper keeps the m tokens whose [CLS] attention is an IQR outlier (> Q3 + 1.5·IQR), an
    adaptive m (~32-40 on LLaVA-1.5). Here m is the requested k: the kept tokens are the k with the
    highest [CLS] attention. Outliers are the most attended tokens, so this keeps every outlier
    when there are at most k (topped up with the next most attended) and the k most attended
    outliers when there are more: outliers first. Each kept token then absorbs its ``neighbours``
    (default 32) most key-similar pruned tokens, ``x_i + Σ_j a_j·x_j`` with a_j their [CLS]
    attention (unnormalised, as in the paper), exactly as PruMerge+ does. The official code also
    appends one token (the attention-weighted sum of every pruned token) and draws neighbours from
    kept tokens too; both are left out so the count is exactly k and merges never double-count.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["prumerge"]

    def select(self, cls_attention: Tensor) -> Tensor:
        """Kept indices ``[B, k]`` (ascending): the k most attended patches."""
        return _top_sorted(cls_attention.to(score_dtype(cls_attention)), self.visual_tokens)


def bipartite_merge(features: Tensor, grid: tuple[int, int], k: int, r: int | None = None) -> tuple[Tensor, Tensor]:
    """ToMe's bipartite soft matching, repeated until k tokens remain.

    Returns ``(features [B, k, D], positions [B, k, 2])``: size-weighted means of the merged
    tokens and of their (row, col). Each round splits the t tokens alternately into A (even) and B
    (odd), matches every A token to its most cosine-similar B token, and merges the ``r_i = min(t - k,
    t // 2, r)`` A tokens with the most similar matches into their partners. Cosine similarity of
    size-weighted means equals that of the running sums, so the sums are merged and divided once at
    the end. After each round the tokens are put back in raster order of their anchor (the B token
    a merge went into, or the unmerged token itself), so the next round pairs neighbours again.
    """
    batch, n, dim = features.shape
    dtype = score_dtype(features)
    positions = grid_positions(*grid, features.device).to(dtype)
    # one state tensor so each round gathers and scatters once: [feature sums | size | position sums]
    state = torch.cat([features.to(dtype), torch.ones(batch, n, 1, dtype=dtype, device=features.device),
                       positions.expand(batch, -1, -1)], dim=-1)
    anchor = torch.arange(n, device=features.device).expand(batch, -1)
    for t, merges in tome_schedule(n, k, r):
        metric = unit(state[..., :dim])
        scores = torch.bmm(metric[:, 0::2], metric[:, 1::2].transpose(1, 2))      # [B, ceil(t/2), t//2]
        best, partner = scores.max(dim=-1)
        order = torch.sort(best, dim=-1, descending=True, stable=True).indices
        src, kept = order[:, :merges], order[:, merges:]
        a, b = state[:, 0::2], state[:, 1::2]
        width = state.shape[-1]
        moved = torch.gather(a, 1, src.unsqueeze(-1).expand(-1, -1, width))
        b = b.scatter_add(1, torch.gather(partner, 1, src).unsqueeze(-1).expand(-1, -1, width), moved)
        state = torch.cat([torch.gather(a, 1, kept.unsqueeze(-1).expand(-1, -1, width)), b], dim=1)
        anchor = torch.cat([torch.gather(anchor[:, 0::2], 1, kept), anchor[:, 1::2]], dim=1)
        anchor, back = anchor.sort(dim=-1)
        state = torch.gather(state, 1, back.unsqueeze(-1).expand(-1, -1, width))
        assert state.shape[1] == t - merges
    size = state[..., dim:dim + 1]
    return (state[..., :dim] / size).to(features.dtype), (state[..., dim + 1:] / size).to(torch.float32)


class ToMe(Compressor):
    """Token Merging (Bolya et al., ICLR'23) as rounds of bipartite soft matching at the seam.

    The paper merges r tokens inside every ViT block, so the encoder itself gets cheaper. Here the
    matching rounds run on the vision features the seam hands over (before the projector on LLaVA,
    on the merged tokens on Qwen), halving the tokens per round (or merging at most ``r`` per round)
    until exactly k remain: the LLM sees k tokens, but the vision encoder runs in full. Similarity
    is the cosine of the tokens' features (the paper uses the attention keys, which the seams do
    not carry through merging); merged tokens are size-weighted means, as in the paper, and sit at
    the size-weighted mean of their positions.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["tome"]

    def __init__(self, visual_tokens: int, *, r: int | None = None, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ValidationError(f"tome: r (merges per round) must be an integer >= 1 or None, got {r!r}",
                                  field="r", value=r)
        self.r = r

    def __repr__(self) -> str:
        return f"ToMe(visual_tokens={self.visual_tokens}, r={self.r})"

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        merged, positions = bipartite_merge(features, context.grid, self.visual_tokens, self.r)
        return CompressionOutput(merged, positions)
