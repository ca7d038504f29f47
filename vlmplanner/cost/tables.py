"""Per-model columns for one workload and dtype, built once per sweep from the (small) model list.

All Python-level work on specs happens here; everything downstream is array arithmetic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmplanner.schemas import CompressorSpec, ModelSpec, Workload

from . import llm
from .dtypes import DType
from .projector import ProjectorCost, projector_cost
from .vision import VisionProfile, vision_profile

__all__ = ["LOGIT_BYTES", "ModelTable", "model_table", "prune_layers"]

Array = np.ndarray[Any, np.dtype[np.float64]]

#: Bytes of one logit: generate() upcasts the last position's logits to fp32.
LOGIT_BYTES = 4

_RAW = ("layers", "d", "q", "kv", "inter", "inter_stored", "router", "qk_norm", "norms", "sliding", "window",
        "vocab", "tied", "qkv_bias", "params_b", "hv", "lv", "native",
        "vision_flops", "vision_params", "proj_flops", "proj_per_token", "proj_params", "packer", "row_tokens",
        "gate", "lin_layers", "lin_hk", "lin_hv", "lin_dk", "lin_dv", "lin_kernel")


@dataclass(frozen=True)
class ModelTable:
    """One entry per model in every column; ``profiles`` and ``projectors`` keep the notes."""

    models: Sequence[ModelSpec]
    profiles: list[VisionProfile]
    projectors: list[ProjectorCost]
    columns: dict[str, Array]


def _has_qkv_bias(model: ModelSpec) -> bool:
    """Whether the LLM's attention has q/k/v biases (the family adapter knows its decoder)."""
    from .vision import family_of

    return family_of(model).llm_has_qkv_bias(model)


def _qk_norm(model: ModelSpec) -> int:
    """Parameters of one per-head q (or k) norm (Qwen3: head_dim); 0 without."""
    from .vision import family_of

    return model.llm.head_dim if family_of(model).llm_has_qk_norm(model) else 0


def _norms(model: ModelSpec) -> int:
    """RMSNorms of width d in each decoder block (two; Gemma 3 four)."""
    from .vision import family_of

    return family_of(model).llm_block_norms(model)


def _raw_row(model: ModelSpec, image_size: tuple[int, int] | None) -> tuple[tuple[float, ...], VisionProfile,
                                                                           ProjectorCost]:
    lm, vision = model.llm, model.vision
    profile = vision_profile(model, image_size)
    projector = projector_cost(model.projector, profile, vision.hidden_size, lm.hidden_size)
    row = (lm.num_layers, lm.hidden_size, lm.q_width, lm.kv_width, lm.active_intermediate_size,
           lm.stored_intermediate_size, lm.router_width, _qk_norm(model), _norms(model), lm.sliding_layers,
           lm.sliding_window or 0, lm.vocab_size, lm.tie_word_embeddings, _has_qkv_bias(model), lm.params_b, vision.hidden_size, vision.num_layers, profile.native, profile.flops, profile.params,
           projector.flops, projector.flops_per_token, projector.params, projector.packer, profile.row_tokens,
           lm.attention_gate, *_linear(model))
    return row, profile, projector


def _linear(model: ModelSpec) -> tuple[int, int, int, int, int, int]:
    """(layers, key heads, value heads, key and value head widths, conv width) of the LLM's
    linear-attention layers; zeros without."""
    linear = model.llm.linear_attention
    if linear is None:
        return 0, 0, 0, 0, 0, 0
    return (linear.layers, linear.key_heads, linear.value_heads, linear.key_head_dim, linear.value_head_dim,
            linear.conv_kernel)


_Row = tuple[tuple[float, ...], VisionProfile, ProjectorCost]
_ROWS: OrderedDict[tuple[int, tuple[int, int] | None], tuple[ModelSpec, _Row]] = OrderedDict()
_ROWS_MAX = 8192


def _cached_row(model: ModelSpec, image_size: tuple[int, int] | None) -> _Row:
    """``_raw_row``, remembered per model object: a planner costs the same specs sweep after sweep.

    Specs are frozen, and the cache holds a reference to each one it keys by ``id``, so an id can
    never be reused by another object while its entry exists.
    """
    key = (id(model), image_size)
    hit = _ROWS.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    row = _raw_row(model, image_size)
    _ROWS[key] = (model, row)
    if len(_ROWS) > _ROWS_MAX:
        _ROWS.popitem(last=False)
    return row


def model_table(models: Sequence[ModelSpec], workload: Workload, dtype: DType) -> ModelTable:
    images = workload.images_per_request
    rows = [_cached_row(m, workload.image_size) for m in models]
    raw = np.array([r[0] for r in rows], dtype=np.float64).reshape(len(models), len(_RAW)).T
    c = dict(zip(_RAW, raw))
    d, q, kv, inter, vocab, tied = c["d"], c["q"], c["kv"], c["inter"], c["vocab"], c["tied"]
    router = c["router"]
    hybrid = _Hybrid(c, d, q, kv)
    llm_params = llm.llm_params(c["layers"], d, q, kv, c["inter_stored"], vocab, tied, c["qkv_bias"], router,
                                c["qk_norm"], c["norms"], mixer=hybrid.params)
    total_params = llm_params + c["vision_params"] + c["proj_params"]
    n_active = llm.llm_matmul_params(c["layers"], d, q, kv, inter, vocab, router,
                                     mixer=hybrid.matmul_params)   # MoE: the active experts
    # Streamed once per forward pass: every weight except an untied input-embedding table, of
    # which only the rows of the tokens in the batch are read.
    untied_embedding = (1 - tied) * vocab * d
    columns: dict[str, Array] = {
        "layers": c["layers"],
        "sliding": c["sliding"],   # sliding-window layers, each caching at most ``window`` positions
        "window": c["window"],
        "d": d,
        "hv": c["hv"],
        "lv": c["lv"],
        # per layer, averaged over a hybrid LLM's softmax- and linear-attention layers
        "per_token": hybrid.mixed(llm.token_flops(d, q, kv, inter, router) + hybrid.gate_flops,
                                  llm.token_flops(d, 0, 0, inter, router) + hybrid.linear_flops(chunked=True)),
        "decode_per_token": hybrid.mixed(llm.token_flops(d, q, kv, inter, router) + hybrid.gate_flops,
                                         llm.token_flops(d, 0, 0, inter, router) + hybrid.linear_flops(chunked=False)),
        "attention": llm.attention_coefficient(q) * hybrid.attention_share,
        "native": c["native"],
        "vision": c["vision_flops"] * images,
        "projector_fixed": c["proj_flops"] * images,
        "projector_per_token": c["proj_per_token"] * images,
        "lm_head": 2 * d * vocab,
        "params_llm": llm_params,
        "params_vision": c["vision_params"],
        "params_projector": c["proj_params"],
        "weight_bytes": total_params * dtype.weight_bytes,
        "prefill_stream_bytes": (total_params - untied_embedding) * dtype.weight_bytes,
        "decode_stream_bytes": (llm_params - untied_embedding) * dtype.weight_bytes,
        "kv_token_bytes": 2 * kv * dtype.cache_bytes * hybrid.attention_share,   # linear layers keep no KV
        # a linear-attention layer's constant state per request: fp32 delta-rule state, conv window
        "state_bytes": c["lin_layers"] * (c["lin_hv"] * c["lin_dk"] * c["lin_dv"] * 4
                                          + (c["lin_kernel"] - 1) * hybrid.conv_width * dtype.cache_bytes),
        "activation_token_bytes": (2 * d + inter) * dtype.cache_bytes,
        "logit_bytes": vocab * LOGIT_BYTES,
        "n_llm": n_active,
        # the paper's N: the nominal size, scaled to the experts a token uses (1 for a dense LLM)
        "nominal_params": c["params_b"] * 1e9 * n_active
        / llm.llm_matmul_params(c["layers"], d, q, kv, c["inter_stored"], vocab, router, mixer=hybrid.matmul_params),
        "packer": c["packer"],
        # newline tokens an anyres model adds per image to a pre-LLM compressor's k
        "row_tokens": c["row_tokens"],
    }
    return ModelTable(models, [r[1] for r in rows], [r[2] for r in rows], columns)


class _Hybrid:
    """A hybrid LLM's layers (Qwen3.5: Gated DeltaNet and gated softmax attention) as per-layer
    averages over the depth, so the formulas written for uniform layers stay exact for every
    pre-LLM pair: L·T·avg(per token) and a T² term over the softmax-attention layers only."""

    def __init__(self, c: dict[str, Array], d: Array, q: Array, kv: Array) -> None:
        self.c, self.d = c, d
        layers, linear = c["layers"], c["lin_layers"]
        self.linear_share = linear / layers
        self.attention_share = 1.0 - self.linear_share
        self.gate_flops = 2 * d * q * c["gate"]        # the gated output's second q-width projection
        self.conv_width = 2 * c["lin_hk"] * c["lin_dk"] + c["lin_hv"] * c["lin_dv"]
        widths = (c["lin_hk"], c["lin_hv"], c["lin_dk"], c["lin_dv"], c["lin_kernel"])
        self.params: Array = llm.mixer_params(d, q, kv, c["qkv_bias"], c["qk_norm"], c["gate"], self.linear_share,
                                              *widths)
        deltanet_matmul = llm.deltanet_matmul_params(d, *widths[:4])
        self.matmul_params = self.mixed(2 * d * q + 2 * d * kv + d * q * c["gate"], deltanet_matmul)

    def mixed(self, attention_layer: Array, linear_layer: Array) -> Array:
        return self.attention_share * attention_layer + self.linear_share * linear_layer

    def linear_flops(self, *, chunked: bool) -> Array:
        c = self.c
        flops: Array = (llm.deltanet_token_flops(self.d, c["lin_hk"], c["lin_hv"], c["lin_dk"], c["lin_dv"], c["lin_kernel"])
                        + llm.deltanet_rule_flops(c["lin_hv"], c["lin_dk"], c["lin_dv"], chunked=chunked))
        return flops


def prune_layers(compressors: Sequence[CompressorSpec]) -> Array:
    """Layers that see every native token: 0 pre-LLM, K in-LLM, all of them for in-LLM without K."""
    return np.array(
        [0.0 if c.kind != "in-llm" else (np.inf if c.prune_layer is None else float(c.prune_layer))
         for c in compressors],
        dtype=np.float64,
    )
