"""``dart``: DART, duplication-aware in-LLM pruning (EMNLP'25, arXiv 2502.11494), from the paper's
description.

Importance scores need attention maps; DART instead removes *duplicates*, which needs none (flash
and SDPA safe). Before LLM layer K (= 2) it picks a few pivot tokens -- the image tokens and the
text tokens after the image with the largest L1 norm of their layer-(K-1) attention keys -- and,
pivot by pivot, keeps the image tokens least cosine-similar to it (on the hidden states entering
layer K after the LLM's final norm), each kept token leaving the pool, so near-copies of what is
already kept go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS, DART_PIVOTS
from ._tensor import score_dtype
from .base import CONTEXT_INPUTS, CompressorCard, InLLMCompressor, LayerInputs
from .fastv import drop_span

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressor dart")

__all__ = ["DART"]


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"dart: {name} must be a non-negative integer, got {value!r}", field=name,
                              value=value)
    return value


class DART(InLLMCompressor):
    """Keep the k image tokens that duplicate the pivots least, before layer ``prune_layer``.

    Adaptations from the paper: exactly k image tokens -- the image pivots (``image_pivots``, 4,
    fewer when k is smaller) plus k minus those shared out over all pivots in order (image pivots
    by key norm, then text pivots), the first ``r mod P`` pivots taking one more -- where the paper
    keeps 4 + 8·floor(k/8); text pivots are the ``text_pivots`` (4) non-image tokens after the
    image with the largest key norm (fewer if fewer tokens follow the image; when other images'
    tokens follow and too few text tokens do, those fill the remaining pivots). Batched, no
    data-dependent shapes (it traces on FakeTensors); kept tokens keep their original position ids.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["dart"]

    def __init__(self, visual_tokens: int, *, prune_layer: int | None = None,
                 image_pivots: int = DART_PIVOTS[0], text_pivots: int = DART_PIVOTS[1],
                 native_tokens: int | None = None, grid: tuple[int, int] | None = None) -> None:
        super().__init__(visual_tokens, prune_layer=prune_layer, native_tokens=native_tokens, grid=grid)
        self.image_pivots = _count(image_pivots, "image_pivots")
        self.text_pivots = _count(text_pivots, "text_pivots")
        if self.image_pivots == 0:
            raise ValidationError("dart: image_pivots must be at least 1 (the kept set starts from them)",
                                  field="image_pivots", value=image_pivots)

    def _needed(self, inputs: LayerInputs, name: str, batch: int, length: int) -> Tensor:
        value = getattr(inputs, name)
        if value is None:
            raise ValidationError(f"dart needs {name} ({CONTEXT_INPUTS[name]}); the seam did not supply it",
                                  field=name, value=None)
        if not isinstance(value, torch.Tensor) or value.dim() != 3 or tuple(value.shape[:2]) != (batch, length):
            raise ValidationError(
                f"dart: {name} must be [B, T, dim] with B={batch}, T={length}, got "
                f"{getattr(value, 'shape', type(value).__name__)}", field=name, value=getattr(value, "shape", None))
        return value

    def choose(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
               tokens: int | None = None) -> Tensor:
        k, batch, length, start, stop = drop_span(self, inputs, image_slice, tokens)
        hidden = inputs.hidden
        n = stop - start
        keys = self._needed(inputs, "llm_keys", batch, length)
        normed = self._needed(inputs, "llm_normed_hidden", batch, length)
        dtype = score_dtype(normed)
        norms = keys.to(dtype).abs().sum(dim=-1)                              # [B, T] key L1 norms
        p_img = min(self.image_pivots, k)
        image_pivots = torch.topk(norms[:, start:stop], p_img, dim=-1).indices  # [B, p_img], by norm
        text_norms = norms[:, stop:]
        if inputs.image_mask is not None:
            text_norms = text_norms.masked_fill(inputs.image_mask[:, stop:].to(keys.device), float("-inf"))
        p_txt = min(self.text_pivots, text_norms.shape[1])   # static: no data-dependent shapes (tracing)
        text_pivots = torch.topk(text_norms, p_txt, dim=-1).indices + stop   # [B, p_txt]

        x = normed.to(dtype)
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        image = x[:, start:stop]                                              # [B, n, D]
        pivot_rows = torch.cat([image_pivots + start, text_pivots], dim=1)   # [B, P]
        pivots = torch.gather(x, 1, pivot_rows.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        similarity = pivots @ image.transpose(1, 2)                           # [B, P, n]

        taken = torch.zeros(batch, n, dtype=torch.bool, device=hidden.device)
        taken.scatter_(1, image_pivots.to(hidden.device), True)
        rest, count = k - p_img, pivot_rows.shape[1]
        for j in range(count):                                     # a few pivots, never the tokens
            share = rest // count + (1 if j < rest % count else 0)
            if share == 0:
                continue
            scores = similarity[:, j].to(hidden.device).masked_fill(taken, float("inf"))
            least = torch.topk(scores, share, dim=-1, largest=False).indices
            taken.scatter_(1, least, True)
        order = torch.arange(n, device=hidden.device).expand(batch, -1)
        keep = torch.where(taken, order, n).sort(dim=-1).values[:, :k]       # the k taken, ascending
        return keep + start
