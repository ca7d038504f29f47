"""Compressors driven by the vision tower's [CLS] attention: ``cls-topk`` (FasterVLM),
``visionzip`` and ``prumerge+``. Written from the papers' descriptions (see docs/compressors.md).

All three need ``context.cls_attention [B, N]``: the head-mean attention of [CLS] to the N patches
(FasterVLM and VisionZip read CLIP layer -2, PruMerge the last layer). VisionZip and PruMerge+ also
need ``context.keys [B, N, Dk]`` (head-mean attention keys) to merge by similarity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS, visionzip_split
from ._tensor import gather_tokens, grid_positions, score_dtype, unit
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressors cls-topk, visionzip and prumerge+")

__all__ = ["ClsTopK", "PruMergePlus", "VisionZip"]


def _top_sorted(scores: Tensor, k: int) -> Tensor:
    """Indices of the k highest scores per row, in ascending (raster) order."""
    return torch.topk(scores, k, dim=-1, sorted=False).indices.sort(dim=-1).values


class ClsTopK(Compressor):
    """FasterVLM: keep the k patches with the highest [CLS] attention, in their original order."""

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["cls-topk"]

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.cls_attention is not None
        h, w = context.grid
        keep = _top_sorted(context.cls_attention.to(score_dtype(context.cls_attention)), self.visual_tokens)
        positions = grid_positions(h, w, features.device)[keep]
        return CompressionOutput(gather_tokens(features, keep), positions)


class VisionZip(Compressor):
    """VisionZip: ``dominant`` tokens with the highest [CLS] attention, plus ``contextual`` tokens:
    the remaining tokens are split into ``contextual`` uniformly spaced targets and the others,
    each other token joins its most key-similar target, and a contextual token is the target plus
    the mean of the tokens that joined it.

    Defaults split k as the paper's settings do (54 + 10 of 64): contextual = round(5k/32). The
    paper also keeps the [CLS] token among the dominant ones; LLaVA drops [CLS] before the
    projector, so here every token is a patch. Output order: dominant (raster order), then
    contextual (in target order).
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["visionzip"]

    def __init__(self, visual_tokens: int, *, dominant: int | None = None, contextual: int | None = None,
                 native_tokens: int | None = None, grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        default_dominant, default_contextual = visionzip_split(visual_tokens)
        if dominant is None and contextual is None:
            dominant, contextual = default_dominant, default_contextual
        elif dominant is None:
            dominant = visual_tokens - int(contextual)  # type: ignore[arg-type]
        elif contextual is None:
            contextual = visual_tokens - dominant
        assert dominant is not None and contextual is not None
        if dominant < 0 or contextual < 0 or dominant + contextual != visual_tokens:
            raise ValidationError(
                f"visionzip: dominant ({dominant}) + contextual ({contextual}) must be {visual_tokens}, "
                "both >= 0", field="dominant", value=dominant,
            )
        self.dominant, self.contextual = int(dominant), int(contextual)

    def __repr__(self) -> str:
        return f"VisionZip(visual_tokens={self.visual_tokens}, dominant={self.dominant}, contextual={self.contextual})"

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.cls_attention is not None and context.keys is not None
        h, w = context.grid
        batch, n, _ = features.shape
        grid_pos = grid_positions(h, w, features.device)
        scores = context.cls_attention.to(score_dtype(context.cls_attention))
        parts_x, parts_p = [], []
        selected = torch.zeros(batch, n, dtype=torch.bool, device=features.device)
        if self.dominant:
            dom = _top_sorted(scores, self.dominant)
            parts_x.append(gather_tokens(features, dom))
            parts_p.append(grid_pos[dom])
            selected.scatter_(1, dom, True)
        if self.contextual:
            x, p = self._contextual(features, context.keys, selected, grid_pos)
            parts_x.append(x)
            parts_p.append(p)
        return CompressionOutput(torch.cat(parts_x, dim=1), torch.cat(parts_p, dim=1))

    def _contextual(self, features: Tensor, keys: Tensor, selected: Tensor,
                    grid_pos: Tensor) -> tuple[Tensor, Tensor]:
        batch, n, dim = features.shape
        c = self.contextual
        # the remaining tokens in raster order (same count in every row): a stable sort puts the
        # unselected first
        order = torch.sort(selected.to(torch.int8), dim=1, stable=True).indices
        rest = order[:, : n - self.dominant]                              # [B, r]
        r = rest.shape[1]
        step = r // c
        target_slots = torch.arange(c, device=features.device) * step   # uniform over the remaining
        is_target = torch.zeros(r, dtype=torch.bool, device=features.device)
        is_target[target_slots] = True
        targets = rest[:, target_slots]                                   # [B, c]
        others = rest[:, ~is_target]                                      # [B, r - c]
        k_t = unit(gather_tokens(keys, targets))
        k_o = unit(gather_tokens(keys, others))
        assign = torch.bmm(k_o, k_t.transpose(1, 2)).argmax(dim=-1)       # [B, r - c] -> target slot
        x_o = gather_tokens(features, others)
        sums = torch.zeros(batch, c, dim, dtype=features.dtype, device=features.device)
        sums.scatter_add_(1, assign.unsqueeze(-1).expand(-1, -1, dim), x_o)
        counts = torch.zeros(batch, c, dtype=torch.float32, device=features.device)
        counts.scatter_add_(1, assign, torch.ones_like(assign, dtype=torch.float32))
        mean = sums / counts.clamp_min(1.0).unsqueeze(-1).to(features.dtype)
        x = gather_tokens(features, targets) + mean
        # position: centroid of the merge weights (target 1, the mean of the joiners 1)
        p_o = grid_pos[others]                                            # [B, r - c, 2]
        pos_sums = torch.zeros(batch, c, 2, dtype=torch.float32, device=features.device)
        pos_sums.scatter_add_(1, assign.unsqueeze(-1).expand(-1, -1, 2), p_o)
        p_t = grid_pos[targets]
        has = (counts > 0).unsqueeze(-1)
        p = torch.where(has, (p_t + pos_sums / counts.clamp_min(1.0).unsqueeze(-1)) / 2, p_t)
        return x, p


class PruMergePlus(Compressor):
    """PruMerge+, adapted to keep exactly k tokens.

    1. Select: the tokens whose [CLS] attention is an IQR outlier (> Q3 + 1.5·IQR); if that is more
       than k, the k most attended of them; if fewer, the rest of k are spatially uniform samples of
       the other tokens (evenly spaced in raster order) -- PruMerge+'s addition to PruMerge.
    2. Merge: each kept token i absorbs the ``neighbours`` pruned tokens whose keys are most
       cosine-similar to its key: ``x_i + Σ_j a_j·x_j`` with a_j their [CLS] attention (unnormalised,
       as in the paper). Its position is the centroid with the same weights.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["prumerge+"]

    def __init__(self, visual_tokens: int, *, neighbours: int = 32, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 0:
            raise ValidationError(f"prumerge+: neighbours must be an integer >= 0, got {neighbours!r}",
                                  field="neighbours", value=neighbours)
        self.neighbours = neighbours

    def select(self, cls_attention: Tensor) -> Tensor:
        """Kept indices ``[B, k]`` (ascending) for ``cls_attention [B, N]``."""
        k = self.visual_tokens
        scores = cls_attention.to(score_dtype(cls_attention))
        rows = []
        for a in scores:                                                  # outlier counts differ per row
            q1, q3 = torch.quantile(a, torch.tensor([0.25, 0.75], dtype=a.dtype, device=a.device))
            outliers = torch.nonzero(a > q3 + 1.5 * (q3 - q1)).flatten()
            if outliers.numel() >= k:
                keep = outliers[torch.topk(a[outliers], k, sorted=False).indices]
            else:
                mask = torch.ones_like(a, dtype=torch.bool)
                mask[outliers] = False
                pool = torch.nonzero(mask).flatten()                      # raster order
                need = k - outliers.numel()
                slots = ((torch.arange(need, device=a.device, dtype=torch.float64) + 0.5)
                         * (pool.numel() / need)).floor().long()
                keep = torch.cat([outliers, pool[slots]])
            rows.append(keep.sort().values)
        return torch.stack(rows)

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.cls_attention is not None and context.keys is not None
        h, w = context.grid
        batch, n, _ = features.shape
        keep = self.select(context.cls_attention)                         # [B, k]
        grid_pos = grid_positions(h, w, features.device)
        kept_x = gather_tokens(features, keep)
        kept_p = grid_pos[keep]
        m = min(self.neighbours, n - self.visual_tokens)
        if m == 0:
            return CompressionOutput(kept_x, kept_p)
        keys = unit(context.keys)
        sim = torch.bmm(gather_tokens(keys, keep), keys.transpose(1, 2))  # [B, k, N]
        is_kept = torch.zeros(batch, n, dtype=torch.bool, device=features.device)
        is_kept.scatter_(1, keep, True)
        sim = sim.masked_fill(is_kept.unsqueeze(1), float("-inf"))        # merge pruned tokens only
        nearest = torch.topk(sim, m, dim=-1).indices                      # [B, k, m]
        attn = context.cls_attention.to(score_dtype(context.cls_attention))
        weights = torch.zeros(batch, self.visual_tokens, n, dtype=attn.dtype, device=features.device)
        weights.scatter_(2, nearest, torch.gather(attn.unsqueeze(1).expand(-1, self.visual_tokens, -1),
                                                  2, nearest))
        merged = kept_x + torch.bmm(weights.to(features.dtype), features)
        w32 = weights.to(torch.float32)
        total = 1.0 + w32.sum(-1, keepdim=True)
        positions = (kept_p + torch.bmm(w32, grid_pos.expand(batch, -1, -1))) / total
        return CompressionOutput(merged, positions)
