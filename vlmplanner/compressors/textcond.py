"""Text-conditioned pre-LLM compressors: ``cdpruner`` (CDPruner), ``mmtok`` (MMTok) and ``trim``
(TRIM), written from the papers' descriptions (see docs/compressors.md).

All three pick projected visual tokens using the instruction. The papers score a token by the
similarity of its CLIP image embedding to the CLIP text embedding of the instruction; this SDK's
seams supply the instruction as ``context.query [B, D]``, the LLM's last hidden state of the
question (vlmplanner.pipeline.runner), which has the LLM's width. The tokens after the projector
have that width too, so the adaptation is: relevance = cosine(projected token, query), and all
three run at the ``post-projector`` stage, which every family's seam serves.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import gather_tokens, grid_positions, score_dtype, unit
from .base import CompressionContext, CompressionOutput, Compressor, CompressorCard

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressors cdpruner, mmtok and trim")

__all__ = ["CDPruner", "MMTok", "TRIM", "coverage_greedy", "dpp_greedy", "query_relevance"]


def query_relevance(x: Tensor, query: Tensor) -> Tensor:
    """Cosine of each unit token ``x [B, N, D]`` to ``query [B, D]`` -> ``[B, N]`` (one bmm)."""
    q = unit(query.to(x.dtype))
    return torch.bmm(x, q.unsqueeze(-1)).squeeze(-1)


def _check_positive(name: str, field: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < 0 if allow_zero else value <= 0):  # type: ignore[operator]
        bound = ">= 0" if allow_zero else "> 0"
        raise ValidationError(f"{name}: {field} must be a finite number {bound}, got {value!r}",
                              field=field, value=value)
    return float(value)  # type: ignore[arg-type]


class _TextConditioned(Compressor):
    """Shared check: the query must be as wide as the tokens it is compared with."""

    def validate(self, features: Tensor, context: CompressionContext) -> None:
        super().validate(features, context)
        query = context.query
        assert query is not None  # the base checked every required input
        if query.shape[-1] != features.shape[-1]:
            raise ValidationError(
                f"{self.name}: context.query has width {query.shape[-1]} but the tokens have "
                f"{features.shape[-1]}; it compares projected tokens with the LLM's query embedding, "
                "so both need the LLM's width (run it post-projector)",
                field="context.query", value=tuple(query.shape),
            )


# -- CDPruner ----------------------------------------------------------------------------------
def dpp_greedy(similarity: Tensor, quality: Tensor, k: int) -> Tensor:
    """Indices ``[B, k]`` (ascending) of a greedy MAP subset of the DPP with kernel
    ``L = diag(q)·S·diag(q)``, by the incremental Cholesky update of Chen et al. (NeurIPS'18).

    ``similarity [B, N, N]`` (S, unit diagonal for non-zero tokens), ``quality [B, N]`` (q > 0).
    Each step adds the token with the largest residual ``d_j² = L_jj - |c_j|²`` (the gain in
    log det); once the kernel's rank is spent (every residual at round-off level, k > rank), the
    remaining picks are the most relevant unpicked tokens, so the count is always exactly k.
    Only the k picked rows of L are formed (never the N x N kernel).
    """
    batch, n, _ = similarity.shape
    rows = torch.arange(batch, device=similarity.device)
    d2 = quality * quality * similarity.diagonal(dim1=1, dim2=2)           # L_jj
    tol = d2.amax(dim=-1) * torch.finfo(d2.dtype).eps ** 0.5                # round-off level, per image
    c = d2.new_zeros(batch, k, n)                                          # Cholesky rows of the picks
    selected = torch.zeros(batch, n, dtype=torch.bool, device=similarity.device)
    chosen = []
    for i in range(k):
        gain = d2.masked_fill(selected, float("-inf"))
        best, pick = gain.max(dim=-1)
        ok = best > tol
        fallback = quality.masked_fill(selected, float("-inf")).argmax(dim=-1)
        pick = torch.where(ok, pick, fallback)
        chosen.append(pick)
        selected[rows, pick] = True
        if i == k - 1:
            break
        kernel_row = quality[rows, pick].unsqueeze(-1) * similarity[rows, pick] * quality   # L[j, :]
        c_pick = c[rows, :i, pick]                                                          # [B, i]
        e = (kernel_row - torch.bmm(c_pick.unsqueeze(1), c[:, :i]).squeeze(1)) \
            / best.clamp_min(tol).clamp_min(torch.finfo(d2.dtype).tiny).sqrt().unsqueeze(-1)
        e = torch.where(ok.unsqueeze(-1), e, torch.zeros_like(e))                # a fallback adds nothing
        c[:, i] = e
        d2 = d2 - e * e
    return torch.stack(chosen, dim=1).sort(dim=1).values


class CDPruner(_TextConditioned):
    """CDPruner: the k tokens a conditional DPP prefers -- diverse *and* relevant to the instruction.

    Kernel ``L = diag(r)·S·diag(r)``: S the cosine similarity of the projected tokens, r their
    relevance to the instruction, min-max normalised per image to (0, 1] (plus 1e-6, so no token
    has quality 0). With ``theta`` (0 <= θ < 1) the paper's trade-off replaces r by
    ``exp(α·r)``, ``α = θ / (2(1 - θ))`` (θ = 0: diversity only; larger θ: relevance weighs more);
    the default ``None`` uses r itself, as the official code does. Greedy MAP inference (fast
    incremental Cholesky) picks exactly k tokens, returned in raster order.

    Adaptation: r is the cosine to the LLM's query embedding (``context.query``), not the mean
    over instruction tokens of the CLIP text-image similarity (the official code also flips its
    sign, a CLIP quirk that does not carry over); min-max is per image, not over the batch, so a
    batch equals its items; exactly k even past the kernel's rank (then by relevance).
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["cdpruner"]

    def __init__(self, visual_tokens: int, *, theta: float | None = None, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        if theta is not None:
            ok = isinstance(theta, (int, float)) and not isinstance(theta, bool) and 0 <= theta < 1
            if not ok:
                raise ValidationError(f"cdpruner: theta must be a number in [0, 1) or None, got {theta!r}",
                                      field="theta", value=theta)
            theta = float(theta)
        self.theta = theta

    def __repr__(self) -> str:
        return f"CDPruner(visual_tokens={self.visual_tokens}, theta={self.theta})"

    def quality(self, relevance: Tensor) -> Tensor:
        """Per-token DPP quality from the raw relevance ``[B, N]``: min-max per image (+1e-6), then
        ``exp(α·r)`` when ``theta`` is set."""
        low = relevance.amin(dim=-1, keepdim=True)
        span = relevance.amax(dim=-1, keepdim=True) - low
        r = torch.where(span > 0, (relevance - low) / span.clamp_min(torch.finfo(relevance.dtype).tiny),
                        torch.ones_like(relevance)) + 1e-6
        if self.theta is not None:
            r = torch.exp(self.theta / (2 * (1 - self.theta)) * r)
        return r

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.query is not None
        h, w = context.grid
        x = unit(features)
        similarity = torch.bmm(x, x.transpose(1, 2))                          # [B, N, N]
        keep = dpp_greedy(similarity, self.quality(query_relevance(x, context.query)), self.visual_tokens)
        return CompressionOutput(gather_tokens(features, keep), grid_positions(h, w, features.device)[keep])


# -- MMTok -------------------------------------------------------------------------------------
def coverage_greedy(coverage: Tensor, k: int) -> Tensor:
    """Indices ``[B, k]`` (ascending) greedily maximising ``f(S) = Σ_i max_{j∈S} M_ij``.

    ``coverage [B, T, N]``: how much source token j covers target i (T targets, N sources).
    f is monotone submodular, so the greedy choice (the largest marginal gain
    ``Σ_i max(M_ij - best_i, 0)`` each step) is within 1 - 1/e of the optimum. Ties go to the
    lower index; the k steps run on the whole batch at once.
    """
    batch, targets, n = coverage.shape
    rows = torch.arange(batch, device=coverage.device)
    best = coverage.new_zeros(batch, targets)
    selected = torch.zeros(batch, n, dtype=torch.bool, device=coverage.device)
    chosen = []
    for _ in range(k):
        gain = (coverage - best.unsqueeze(-1)).clamp_min(0).sum(dim=1)       # [B, N]
        pick = gain.masked_fill(selected, float("-inf")).argmax(dim=-1)
        chosen.append(pick)
        selected[rows, pick] = True
        best = torch.maximum(best, coverage[rows, :, pick])
    return torch.stack(chosen, dim=1).sort(dim=1).values


class MMTok(_TextConditioned):
    """MMTok: the k tokens that best *cover* both the instruction and the image.

    Two coverage matrices, each softmax-normalised per target row with a temperature: text ->
    vision ``P = softmax(cos(query, x_j) / τ_t) / m`` (m = 1 query) and vision -> vision
    ``Q = softmax(cos(x_i, x_j) / τ_v) / N``; the objective is
    ``f(S) = Σ_t max_{j∈S} P_tj + α·Σ_i max_{j∈S} Q_ij``, maximised greedily (submodular) for
    exactly k tokens, returned in raster order. Defaults are the paper's: α = 0.5, τ_t = 0.02,
    τ_v = 0.2.

    Adaptation: one text target (the LLM's query embedding, ``context.query``) instead of the
    instruction's text tokens, and the vision -> vision similarities on the projected tokens
    (the paper uses the vision encoder's features before the projector); no optional VLM agent.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["mmtok"]

    def __init__(self, visual_tokens: int, *, alpha: float = 0.5, text_temperature: float = 0.02,
                 vision_temperature: float = 0.2, native_tokens: int | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, native_tokens=native_tokens, grid=grid)
        self.alpha = _check_positive("mmtok", "alpha", alpha, allow_zero=True)
        self.text_temperature = _check_positive("mmtok", "text_temperature", text_temperature)
        self.vision_temperature = _check_positive("mmtok", "vision_temperature", vision_temperature)

    def __repr__(self) -> str:
        return (f"MMTok(visual_tokens={self.visual_tokens}, alpha={self.alpha}, "
                f"text_temperature={self.text_temperature}, vision_temperature={self.vision_temperature})")

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.query is not None
        h, w = context.grid
        n = features.shape[1]
        x = unit(features)
        text = torch.softmax(query_relevance(x, context.query) / self.text_temperature, dim=-1)  # [B, N]
        vision = torch.softmax(torch.bmm(x, x.transpose(1, 2)) / self.vision_temperature, dim=-1)
        coverage = torch.cat([text.unsqueeze(1), vision * (self.alpha / n)], dim=1)  # [B, 1 + N, N]
        keep = coverage_greedy(coverage, self.visual_tokens)
        return CompressionOutput(gather_tokens(features, keep), grid_positions(h, w, features.device)[keep])


# -- TRIM --------------------------------------------------------------------------------------
class TRIM(_TextConditioned):
    """TRIM: the tokens most similar to the instruction, plus one token aggregating the rest.

    The paper keeps the tokens whose text similarity is an IQR outlier (> Q3 + 1.5·IQR of the
    softmaxed similarities), an adaptive count, and appends the mean of the others. For exactly k
    tokens: the k - 1 most similar tokens (the outliers are the top of that ranking, so this is
    the outlier set capped or filled to k - 1), in raster order, then the mean of the other
    N - k + 1 as the k-th token, placed at their centroid. :meth:`outlier_counts` gives the
    paper's adaptive count (outliers + 1) for choosing k.

    Adaptation: similarity = cosine to the LLM's query embedding (``context.query``) on the
    projected tokens, not CLIP's text-image similarity inside the vision encoder; exact k.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["trim"]

    @staticmethod
    def outlier_counts(features: Tensor, query: Tensor) -> Tensor:
        """The paper's adaptive token count per image, ``[B]`` (int64): IQR outliers of the
        softmaxed query similarities, plus the aggregated token."""
        scores = torch.softmax(query_relevance(unit(features), query), dim=-1)
        q1, q3 = torch.quantile(scores, torch.tensor([0.25, 0.75], dtype=scores.dtype, device=scores.device),
                                dim=-1, keepdim=True)
        counts: Tensor = (scores > q3 + 1.5 * (q3 - q1)).sum(dim=-1) + 1
        return counts

    def reduce(self, features: Tensor, context: CompressionContext) -> CompressionOutput:
        assert context.query is not None
        h, w = context.grid
        n = features.shape[1]
        kept = self.visual_tokens - 1
        relevance = query_relevance(unit(features), context.query)
        keep = torch.topk(relevance, kept, dim=-1, sorted=False).indices.sort(dim=-1).values   # [B, k-1]
        grid_pos = grid_positions(h, w, features.device)
        x = features.to(score_dtype(features))
        rest = n - kept                                                      # >= 1 tokens aggregated
        mean = (x.sum(dim=1) - gather_tokens(x, keep).sum(dim=1)) / rest    # [B, D]
        centroid = (grid_pos.sum(dim=0) - grid_pos[keep].sum(dim=1)) / rest  # [B, 2]
        out = torch.cat([gather_tokens(features, keep), mean.to(features.dtype).unsqueeze(1)], dim=1)
        positions = torch.cat([grid_pos[keep], centroid.unsqueeze(1)], dim=1)
        return CompressionOutput(out, positions)
