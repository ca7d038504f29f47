"""``sparsevlm``: SparseVLM (ICML'25, arXiv 2410.04417), text-guided in-LLM pruning in three stages
with token recycling, written from the paper's description.

The image tokens worth keeping are those the *question* looks at. SparseVLM first picks text
"raters": of the text tokens after the image, those most relevant to the image (a softmax over the
text of image·text similarities of the LLM's input embeddings, averaged over the image tokens;
above-mean tokens rate). At each drop the raters' attention rows inside the LLM, averaged over heads
and raters, score the image tokens present; the best go on. Instead of discarding the rest, the top
30 % of the pruned tokens by score are clustered (density peaks over k nearest neighbours) and each
cluster goes on as one merged token ("recycling").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import (
    BUILTIN_CARDS,
    SPARSEVLM_STAGES,
    SPARSEVLM_WEIGHTS,
    sparsevlm_candidates,
    sparsevlm_recycled,
)
from ._schedule import staged_schedule
from ._tensor import gather_tokens, score_dtype
from .base import CONTEXT_INPUTS, CompressorCard, InLLMCompressor, LayerInputs, _check_native
from .fastv import drop_span

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressor sparsevlm")

__all__ = ["SparseVLM"]


class SparseVLM(InLLMCompressor):
    """Three drops before layers K, K + 4(L-K)/30 and K + 13(L-K)/30 (2, 6, 15 of a 32-layer LLM),
    each keeping the image tokens the text raters attend to most at the layer before, plus merged
    clusters of the best pruned ones.

    Adaptations from the paper: (1) exact counts: the stage counts are not the code's fixed lists
    but derived from k (shape 300 : 200 : 110, the paper's 192-token schedule; k = 162 of 576 gives
    it, up to one token on the last ten layers) so the image keeps exactly k tokens on average over layers K..L-1, recycled tokens
    included -- of a stage's count, r are merged clusters with r = m // 10 + 1 for the m = 0.3·p + 1
    candidates of the p tokens that stage prunes, at most count - 1 (the paper adds its clusters on
    top of the list); (2) the drops follow the layer before (its attention, recomputed for the rows
    after the image, flash/SDPA safe), where the paper's code prunes a layer's own output; (3) the
    raters are re-chosen at each drop from the input embeddings of the image tokens still present
    (the paper chooses them once); (4) a merged token takes the sequence slot and position id of its
    cluster centre (the paper appends the merged tokens after the kept ones and renumbers positions,
    as it does for every kept token); kept tokens keep their position ids; (5) equal densities are
    ordered by index, not by random noise; (6) pruning once at prefill, batched, no data-dependent
    shapes (it traces on FakeTensors).
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["sparsevlm"]
    attention_layer: ClassVar[Literal["previous", "current"]] = "previous"

    def schedule(self, native: int, num_layers: int) -> list[tuple[int, int]]:
        native = _check_native(native)
        return staged_schedule(self.name, self.tokens_for(native), native, self.prune_layer, num_layers,
                               SPARSEVLM_STAGES, SPARSEVLM_WEIGHTS)

    def choose(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
               tokens: int | None = None) -> Tensor:
        return self.choose_merged(inputs, image_slice, tokens)[0]

    def choose_merged(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
                      tokens: int | None = None) -> tuple[Tensor, Tensor | None]:
        k, batch, length, start, stop = drop_span(self, inputs, image_slice, tokens)
        hidden = inputs.hidden
        n = stop - start
        if stop == length:
            raise ValidationError("sparsevlm needs text after the image (its raters come from it)",
                                  field="image_slice", value=(start, stop))
        rows = self._text_rows(inputs, batch, length, stop)                  # [B, Tt, T]
        embeddings = self._needed(inputs, "llm_embeddings", batch, length)
        score = self._scores(embeddings, rows[..., start:stop], inputs.image_mask, start, stop)  # [B, n]
        recycled = sparsevlm_recycled(n, k)
        top = torch.topk(score, k - recycled, dim=-1).indices               # [B, kept]
        if recycled == 0:
            return top.sort(dim=-1).values.to(hidden.device) + start, None
        slots, merged = self._recycle(hidden[:, start:stop], score, top, recycled)
        index = torch.cat([top.to(hidden.device), slots], dim=1)            # [B, k] image positions
        states = torch.cat([gather_tokens(hidden[:, start:stop], top.to(hidden.device)),
                            merged.to(hidden.dtype)], dim=1)
        index, order = index.sort(dim=-1)
        return index + start, gather_tokens(states, order)

    # -- inputs ------------------------------------------------------------------------------
    def _needed(self, inputs: LayerInputs, name: str, batch: int, length: int) -> Tensor:
        value = getattr(inputs, name)
        if value is None:
            raise ValidationError(f"sparsevlm needs {name} ({CONTEXT_INPUTS[name]}); the seam did not supply it",
                                  field=name, value=None)
        if not isinstance(value, torch.Tensor) or value.dim() != 3 or value.shape[0] != batch \
                or value.shape[-1 if name == "text_attention" else 1] != length:
            raise ValidationError(
                f"sparsevlm: {name} has shape {getattr(value, 'shape', type(value).__name__)}; expected "
                f"{CONTEXT_INPUTS[name]} with B={batch}, T={length}", field=name,
                value=getattr(value, "shape", None))
        return value

    def _text_rows(self, inputs: LayerInputs, batch: int, length: int, stop: int) -> Tensor:
        """The attention rows of the text after the image, ``[B, T - stop, T]``."""
        rows = self._needed(inputs, "text_attention", batch, length)
        after = length - stop
        if not after <= rows.shape[1] <= length:
            raise ValidationError(
                f"sparsevlm: text_attention holds {rows.shape[1]} rows; the {after} tokens after the image "
                f"need at least that many (of T={length})", field="text_attention", value=tuple(rows.shape))
        return rows[:, rows.shape[1] - after:]

    # -- the method --------------------------------------------------------------------------
    @staticmethod
    def _scores(embeddings: Tensor, rows: Tensor, image_mask: Tensor | None, start: int, stop: int) -> Tensor:
        """Head- and rater-mean attention of the raters to every image token, ``[B, n]``."""
        dtype = score_dtype(embeddings)
        e = embeddings.to(dtype)
        image, text = e[:, start:stop], e[:, stop:]                          # [B, n, D], [B, Tt, D]
        valid = torch.ones(text.shape[:2], dtype=torch.bool, device=e.device)
        if image_mask is not None:                                           # other images' tokens rate nothing
            valid = ~image_mask[:, stop:].to(e.device)
        logits = (image @ text.transpose(1, 2)).masked_fill(~valid[:, None], float("-inf"))
        relevance = torch.softmax(logits, dim=-1).nan_to_num(0.0).mean(dim=1)            # [B, Tt]
        mean = relevance.sum(-1, keepdim=True) / valid.sum(-1, keepdim=True).clamp_min(1)
        raters = (relevance > mean) & valid
        raters = torch.where(raters.any(-1, keepdim=True), raters, valid)    # all equal: every text token
        last = torch.zeros_like(raters)
        last[:, -1] = True
        raters = torch.where(raters.any(-1, keepdim=True), raters, last)     # no text: the last token
        weights = raters.to(dtype) / raters.sum(-1, keepdim=True)
        scores: Tensor = (weights[:, None, :].to(rows.device) @ rows.to(dtype))[:, 0]
        return scores

    @staticmethod
    def _recycle(image: Tensor, score: Tensor, top: Tensor, clusters: int) -> tuple[Tensor, Tensor]:
        """The slots (image positions of the centres, ``[B, r]``) and merged states ``[B, r, D]`` of
        the r clusters of the best-scored pruned tokens (density peaks over r nearest neighbours)."""
        batch, n, dim = image.shape
        candidates = sparsevlm_candidates(n - top.shape[1])
        pruned = score.scatter(1, top, float("-inf"))
        chosen = torch.topk(pruned, candidates, dim=-1).indices.to(image.device)       # [B, m]
        x = gather_tokens(image, chosen).to(score_dtype(image))                          # [B, m, D]
        squares = (x * x).sum(-1)
        gram = x @ x.transpose(1, 2)
        eye = torch.eye(candidates, dtype=torch.bool, device=x.device)
        d2 = (squares[:, :, None] + squares[:, None, :] - 2 * gram).clamp_min(0).masked_fill(eye, 0.0)
        distance = d2.sqrt() / dim ** 0.5                                                 # [B, m, m]
        nearest = torch.topk(distance, clusters, dim=-1, largest=False).values
        density = torch.exp(-(nearest ** 2).mean(dim=-1))                                 # [B, m]
        order = torch.arange(candidates, device=x.device)
        higher = (density[:, None, :] > density[:, :, None]) | (
            (density[:, None, :] == density[:, :, None]) & (order[None, :] < order[:, None])[None])
        far = distance.flatten(1).max(dim=-1).values[:, None, None]
        delta = torch.where(higher, distance, far).min(dim=-1).values                     # to a denser token
        centres = torch.topk(delta * density, clusters, dim=-1).indices                    # [B, r]
        to_centre = torch.gather(distance, 2, centres[:, None, :].expand(-1, candidates, -1))
        cluster = to_centre.argmin(dim=-1)                                                 # [B, m]
        cluster = cluster.scatter(1, centres, torch.arange(clusters, device=x.device).expand(batch, -1))
        sums = torch.zeros(batch, clusters, dim, dtype=x.dtype, device=x.device)
        sums = sums.scatter_add(1, cluster[..., None].expand(-1, -1, dim), x)
        sizes = torch.zeros(batch, clusters, dtype=x.dtype, device=x.device)
        sizes = sizes.scatter_add(1, cluster, torch.ones_like(cluster, dtype=x.dtype))
        return torch.gather(chosen, 1, centres), sums / sizes[..., None]
