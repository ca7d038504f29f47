"""``fastv``: in-LLM pruning by the last prompt token's attention (FastV, ECCV'24), from the paper's
description.

All tokens pass LLM layers 0..K-1. At layer K-1 the seam obtains the attention of the last prompt
token to the image tokens (eager attention at that one layer, or a single-row recompute
``softmax(q_last·Kᵀ/√d_h)`` from that layer's q/k projections -- flash/SDPA safe) and calls
:meth:`FastV.select`; the returned image tokens (with every text token) go on to layer K, keeping
their original position ids. Pruning happens once, at prefill; decoding sees the same subset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS
from ._tensor import score_dtype
from .base import CompressorCard, InLLMCompressor, LayerInputs, _as_slice

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    torch = require("torch", feature="compressor fastv")

__all__ = ["FastV", "drop_span", "image_span", "most_attended"]


class FastV(InLLMCompressor):
    """Keep the k image tokens with the highest head-mean attention from the last prompt token at
    layer ``prune_layer - 1`` (K = 2 by default, as in the paper's title)."""

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["fastv"]

    def select(self, hidden: Tensor, attention_to_image: Tensor,
               image_slice: slice | tuple[int, int]) -> Tensor:
        return most_attended(self, hidden, attention_to_image, image_slice, self.visual_tokens)

    def choose(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
               tokens: int | None = None) -> Tensor:
        if self.share is None or tokens is None or inputs.attention_to_image is None:
            return super().choose(inputs, image_slice, tokens)
        # a share: this image's own k, from the schedule
        return most_attended(self, inputs.hidden, inputs.attention_to_image, image_slice, tokens, check_native=False)


def image_span(compressor: InLLMCompressor, hidden: Tensor, image_slice: slice | tuple[int, int],
               tokens: int) -> tuple[int, int, int, int]:
    """(batch, length, start, stop) of a drop's inputs, checked: ``hidden`` is [B, T, D], the slice
    lies inside T and holds at least ``tokens`` image tokens (InvalidTokenCountError otherwise)."""
    name = compressor.name
    if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
        raise ValidationError(f"{name}: hidden must be [batch, tokens, dim], got "
                              f"{getattr(hidden, 'shape', type(hidden).__name__)}",
                              field="hidden", value=getattr(hidden, "shape", None))
    batch, length, _ = hidden.shape
    start, stop = _as_slice(image_slice, length)
    n_img = stop - start
    if tokens > n_img:
        raise InvalidTokenCountError(
            f"{name} cannot keep {tokens} visual tokens: the image has only {n_img}",
            field="visual_tokens", value=tokens,
        )
    return batch, length, start, stop


def drop_span(compressor: InLLMCompressor, inputs: LayerInputs, image_slice: slice | tuple[int, int],
              tokens: int | None) -> tuple[int, int, int, int, int]:
    """(k, batch, length, start, stop) of one drop: ``tokens`` or the compressor's k, checked by
    :func:`image_span`; at the first stage the image must hold the tokens it was built for."""
    k = compressor.visual_tokens if tokens is None else tokens
    batch, length, start, stop = image_span(compressor, inputs.hidden, image_slice, k)
    n = stop - start
    if compressor.native_tokens is not None and n != compressor.native_tokens and inputs.stage == 0:
        raise ValidationError(f"{compressor.name} was built for {compressor.native_tokens} image tokens, got {n}",
                              field="image_slice", value=(start, stop))
    return k, batch, length, start, stop


def most_attended(compressor: InLLMCompressor, hidden: Tensor, attention_to_image: Tensor,
                  image_slice: slice | tuple[int, int], tokens: int, *, check_native: bool = True) -> Tensor:
    """The ``tokens`` image positions of ``image_slice`` with the highest head-mean attention,
    ascending ``[B, tokens]`` (FastV's pick; PyramidDrop's at every stage)."""
    name = compressor.name
    batch, length, start, stop = image_span(compressor, hidden, image_slice, tokens)
    n_img = stop - start
    if check_native and compressor.native_tokens is not None and n_img != compressor.native_tokens:
        raise ValidationError(f"{name} was built for {compressor.native_tokens} image tokens, got {n_img}",
                              field="image_slice", value=(start, stop))
    att = attention_to_image
    if not isinstance(att, torch.Tensor) or att.dim() not in (2, 3) or att.shape[0] != batch:
        raise ValidationError(
            f"{name}: attention_to_image must be [B, heads, Timg] or [B, Timg] with B={batch}, got "
            f"{getattr(att, 'shape', type(att).__name__)}",
            field="attention_to_image", value=getattr(att, "shape", None),
        )
    if att.shape[-1] == length and length != n_img:
        att = att[..., start:stop]                                    # a full row: slice it
    if att.shape[-1] != n_img:
        raise ValidationError(
            f"{name}: attention_to_image covers {att.shape[-1]} tokens; expected the {n_img} image "
            f"tokens (or the full row of {length})",
            field="attention_to_image", value=tuple(att.shape),
        )
    scores = att.to(score_dtype(att))
    if scores.dim() == 3:
        scores = scores.mean(dim=1)                                   # head mean
    keep = torch.topk(scores, tokens, dim=-1, sorted=False).indices.sort(dim=-1).values
    return keep.to(hidden.device) + start
