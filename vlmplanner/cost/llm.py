"""The language model's formulas: parameters, prefill blocks, decode steps (vectorized).

Every function takes numbers, numpy arrays or ``Poly`` polynomials in V that combine with ``+``
and ``*``, so the same code gives one candidate's cost or the coefficients of every pair's. T is
the number of tokens a layer processes; an in-LLM compressor makes the first K layers see
T_full = Q + native visual tokens and the rest T_kept = Q + V.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "attention_coefficient",
    "block_flops",
    "decode_flops",
    "llm_matmul_params",
    "llm_params",
    "token_flops",
]

#: A number, a numpy array or a Poly: anything closed under + and *.
Quantity = Any


def llm_matmul_params(layers: Quantity, d: Quantity, q: Quantity, kv: Quantity, inter: Quantity,
                      vocab: Quantity, router: Quantity = 0) -> Quantity:
    """Weights a forward pass multiplies by: every block's projections, MLP (MoE: the active
    experts) and router, plus lm_head."""
    return layers * (2 * d * q + 2 * d * kv + 3 * d * inter + router) + vocab * d


def llm_params(layers: Quantity, d: Quantity, q: Quantity, kv: Quantity, inter: Quantity, vocab: Quantity,
               tied: Quantity, qkv_bias: Quantity, router: Quantity = 0, qk_norm: Quantity = 0,
               norms: Quantity = 2) -> Quantity:
    """Exact parameters of a Llama/Mistral/Qwen/Gemma-style decoder.

    Embedding, per block q/o (d x q), k/v (d x kv), gated MLP (3·d·I, I the stored width: every
    expert of an MoE), a router (d x experts, averaged over the layers), ``norms`` RMSNorms of
    width d (two; Gemma 3 four), for Qwen2 q/k/v biases and for Qwen3 / Gemma 3 the per-head q/k
    norms (``qk_norm`` = head_dim); a final norm; lm_head unless tied to the embedding.
    """
    block = 2 * d * q + 2 * d * kv + 3 * d * inter + router + norms * d + qkv_bias * (q + 2 * kv) + 2 * qk_norm
    return vocab * d + layers * block + d + (1 - tied) * vocab * d


def token_flops(d: Quantity, q: Quantity, kv: Quantity, inter: Quantity, router: Quantity = 0) -> Quantity:
    """FLOPs per token per layer of the linear parts: projections 2·(2d·q + 2d·kv), gated MLP 6·d·I
    (I the active width), the MoE router 2·router."""
    return 2 * (2 * d * q + 2 * d * kv) + 6 * d * inter + 2 * router


def attention_coefficient(q: Quantity) -> Quantity:
    """Attention FLOPs per (query, key) pair per layer: QKᵀ and AV, 2·q each (q = heads·head_dim),
    counted dense."""
    return 4 * q


def block_flops(layers_full: Quantity, layers_kept: Quantity, t_full: Quantity, t_kept: Quantity,
                per_token: Quantity, attention: Quantity) -> Quantity:
    """Prefill FLOPs of all decoder blocks: per layer T·(linear) + attention·T² (full T², as SDPA counts)."""
    full = layers_full * t_full * (per_token + attention * t_full)
    kept = layers_kept * t_kept * (per_token + attention * t_kept)
    return full + kept


def decode_flops(first_step: Quantity, slope: Quantity, steps: int) -> Quantity:
    """Σ_{j<steps} (first_step + slope·j): each step attends over one more cached position."""
    return steps * first_step + slope * (steps * (steps - 1) / 2)
