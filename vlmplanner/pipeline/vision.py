"""What a CLIP vision tower (LLaVA, LLaVA-NeXT) supplies to a pre-LLM compressor (imports torch).

One pass of the tower with ``output_hidden_states=True`` gives everything:

* ``features``: the hidden state LLaVA feeds its projector (``vision_feature_layer``, -2), CLS dropped;
* ``cls_attention``: the [CLS] row of a layer's attention over the patches, mean over heads,
  recomputed from that layer's input: ``softmax(q_cls·Kᵀ/√d_h)`` with its ``layer_norm1``,
  ``q_proj`` and ``k_proj`` -- the same numbers eager attention returns, with SDPA or flash too;
* ``keys``: that layer's attention keys of the patches, mean over heads ``[B, N, d_h]``;
* PruMerge+ reads the *last* layer with full-width q and k (its paper's hooks on ``q_proj`` /
  ``k_proj``): ``softmax(q_cls·Kᵀ/√C)`` and ``keys [B, N, C]``;
* ``multi_layer_features``: hidden states of several layers concatenated on channels (QueCC:
  12, 16, 22, 23 of CLIP-L's 24; a tower with another depth gets the same fractions of its depth).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmplanner import compat
from vlmplanner.extras import require

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="the pipeline's vision-tower seam")

__all__ = ["QUECC_LAYERS", "TowerOutputs", "cls_row_and_keys", "multi_layer_indices", "run_clip_tower"]

#: The hidden states QueCC concatenates for CLIP-L/14 (24 layers), as in the paper.
QUECC_LAYERS: tuple[int, ...] = (12, 16, 22, 23)


def multi_layer_indices(layers: int) -> tuple[int, ...]:
    """Hidden-state indices for QueCC on a tower of ``layers`` layers: the paper's for 24 layers, the
    same fractions of the depth otherwise (duplicates allowed, so the width stays 4 x hidden)."""
    if layers == 24:
        return QUECC_LAYERS
    return tuple(min(layers, max(1, round(i * layers / 24))) for i in QUECC_LAYERS)


@dataclass
class TowerOutputs:
    """``features [C, N, dv]`` of every crop, and the optional context tensors (``None`` when unused)."""

    features: Tensor
    cls_attention: Tensor | None = None
    keys: Tensor | None = None
    multi_layer_features: Tensor | None = None


def cls_row_and_keys(layer: Any, layer_input: Tensor, *, full_width: bool = False) -> tuple[Tensor, Tensor]:
    """(``[B, N]`` head-mean [CLS] attention to the patches, ``[B, N, Dk]`` keys of the patches) of one
    CLIP encoder layer, recomputed from its input hidden states ``[B, 1 + N, C]``."""
    parts = compat.clip_attention(layer)
    x = parts.norm(layer_input)
    q = parts.q_proj(x[:, :1])                                          # [B, 1, C]
    k = parts.k_proj(x)                                                 # [B, T, C]
    dtype = torch.float32 if q.dtype not in (torch.float32, torch.float64) else q.dtype
    q, k = q.to(dtype), k.to(dtype)
    if full_width:
        scores = torch.softmax(q @ k.transpose(1, 2) * k.shape[-1] ** -0.5, dim=-1)  # [B, 1, T]
        return scores[:, 0, 1:], k[:, 1:]
    batch, length, width = k.shape
    heads = parts.heads
    head_dim = width // heads
    qh = q.view(batch, 1, heads, head_dim).transpose(1, 2)              # [B, H, 1, d]
    kh = k.view(batch, length, heads, head_dim).transpose(1, 2)         # [B, H, T, d]
    scores = torch.softmax(qh @ kh.transpose(2, 3) * parts.scale, dim=-1)  # [B, H, 1, T]
    return scores[:, :, 0, 1:].mean(dim=1), kh.mean(dim=1)[:, 1:]


def run_clip_tower(tower: Any, pixel_values: Tensor, *, feature_layer: int | Sequence[int], drop_cls: bool,
                   cls_layer: int | None = None, full_width: bool = False, want_keys: bool = False,
                   multi_layers: Sequence[int] | None = None,
                   timings: dict[str, float] | None = None) -> TowerOutputs:
    """Run the tower once on ``pixel_values [C, 3, H, W]`` (crops) and collect what is asked for.

    ``feature_layer``: LLaVA's ``vision_feature_layer`` (an index into the hidden states, or a list
    whose states are concatenated); ``cls_layer``: the hidden-state index whose producing layer's
    [CLS] attention (and keys, with ``want_keys``) is wanted; ``multi_layers``: hidden-state indices
    to concatenate. ``timings["context_s"]`` gets the seconds spent on the [CLS] row and keys.
    """
    out = tower(pixel_values, output_hidden_states=True, return_dict=True)
    states = out.hidden_states                                          # L + 1: embeddings, then each layer
    start = 1 if drop_cls else 0
    if isinstance(feature_layer, int):
        features = states[feature_layer][:, start:]
    else:
        features = torch.cat([states[i][:, start:] for i in feature_layer], dim=-1)
    result = TowerOutputs(features=features)
    if cls_layer is not None:
        clock = time.perf_counter()
        index = cls_layer % len(states)                                 # the output of layer index - 1
        layers = compat.clip_encoder_layers(tower)
        cls, keys = cls_row_and_keys(layers[index - 1], states[index - 1], full_width=full_width)
        result.cls_attention = cls
        result.keys = keys if want_keys else None
        if timings is not None:
            timings["context_s"] = timings.get("context_s", 0.0) + time.perf_counter() - clock
    if multi_layers:
        result.multi_layer_features = torch.cat([states[i][:, start:] for i in multi_layers], dim=-1)
    return result
