"""The language model's formulas: parameters, prefill blocks, decode steps (vectorized).

Every function takes numbers, numpy arrays or ``Poly`` polynomials in V that combine with ``+``
and ``*``, so the same code gives one candidate's cost or the coefficients of every pair's. T is
the number of tokens a layer processes; an in-LLM compressor makes the first K layers see
T_full = Q + native visual tokens and the rest T_kept = Q + V.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DELTA_CHUNK",
    "attention_coefficient",
    "block_flops",
    "deltanet_matmul_params",
    "deltanet_params",
    "deltanet_rule_flops",
    "deltanet_token_flops",
    "decode_flops",
    "llm_matmul_params",
    "llm_params",
    "mixer_params",
    "token_flops",
]

#: Tokens per chunk of transformers' chunked gated delta rule (``torch_chunk_gated_delta_rule``).
DELTA_CHUNK = 64

#: A number, a numpy array or a Poly: anything closed under + and *.
Quantity = Any


def llm_matmul_params(layers: Quantity, d: Quantity, q: Quantity, kv: Quantity, inter: Quantity,
                      vocab: Quantity, router: Quantity = 0, mixer: Quantity = None) -> Quantity:
    """Weights a forward pass multiplies by: every block's projections, MLP (MoE: the active
    experts) and router, plus lm_head. ``mixer``: the token mixer's matrices per layer, averaged
    over a hybrid LLM's layers (default: softmax attention's q, k, v, o)."""
    mixer = 2 * d * q + 2 * d * kv if mixer is None else mixer
    return layers * (mixer + 3 * d * inter + router) + vocab * d


def llm_params(layers: Quantity, d: Quantity, q: Quantity, kv: Quantity, inter: Quantity, vocab: Quantity,
               tied: Quantity, qkv_bias: Quantity, router: Quantity = 0, qk_norm: Quantity = 0,
               norms: Quantity = 2, mixer: Quantity = None) -> Quantity:
    """Exact parameters of a Llama/Mistral/Qwen/Gemma-style decoder.

    Embedding, per block q/o (d x q), k/v (d x kv), gated MLP (3·d·I, I the stored width: every
    expert of an MoE), a router (d x experts, averaged over the layers), ``norms`` RMSNorms of
    width d (two; Gemma 3 four), for Qwen2 q/k/v biases and for Qwen3 / Gemma 3 the per-head q/k
    norms (``qk_norm`` = head_dim); a final norm; lm_head unless tied to the embedding. ``mixer``:
    the token mixer's parameters per layer averaged over a hybrid LLM's layers, in place of the
    attention's (projections, biases and q/k norms).
    """
    if mixer is None:
        mixer = 2 * d * q + 2 * d * kv + qkv_bias * (q + 2 * kv) + 2 * qk_norm
    block = mixer + 3 * d * inter + router + norms * d
    return vocab * d + layers * block + d + (1 - tied) * vocab * d


def token_flops(d: Quantity, q: Quantity, kv: Quantity, inter: Quantity, router: Quantity = 0) -> Quantity:
    """FLOPs per token per layer of the linear parts: projections 2·(2d·q + 2d·kv), gated MLP 6·d·I
    (I the active width), the MoE router 2·router."""
    return 2 * (2 * d * q + 2 * d * kv) + 6 * d * inter + 2 * router


def deltanet_token_flops(d: Quantity, hk: Quantity, hv: Quantity, dk: Quantity, dv: Quantity,
                         kernel: Quantity) -> Quantity:
    """Prefill FLOPs per token of one Gated DeltaNet mixer (Qwen3.5's linear attention) without its
    delta rule: the projections 2·d·(2·Hk·dk + Hv·dv) (q, k, v), 2·d·Hv·dv (the output gate z),
    2·2·d·Hv (a, b), 2·Hv·dv·d (out), and the depthwise causal convolution 2·K·(2·Hk·dk + Hv·dv)."""
    return (2 * d * (2 * hk * dk + hv * dv) + 2 * d * hv * dv + 4 * d * hv + 2 * hv * dv * d
            + 2 * kernel * (2 * hk * dk + hv * dv))


def deltanet_rule_flops(hv: Quantity, dk: Quantity, dv: Quantity, *, chunked: bool,
                        chunk: int = DELTA_CHUNK) -> Quantity:
    """FLOPs per token of the gated delta rule over Hv value heads (the keys repeated to them).

    Chunked (prefill, transformers' ``torch_chunk_gated_delta_rule``), per chunk of C tokens and
    head: k·kᵀ and q·kᵀ in the chunk 4·C²·dk, two unit-triangular solves C·(C − 1)·(dv + dk), the
    state read twice and written once 6·C·dk·dv, the intra-chunk attention on the new values 2·C²·dv;
    divided by C. Recurrent (decode): the state read twice and written once, 6·dk·dv, which
    transformers computes elementwise (a FLOP counter of matmuls sees none of it)."""
    if not chunked:
        return hv * 6 * dk * dv
    return hv * (4 * chunk * dk + (chunk - 1) * (dv + dk) + 6 * dk * dv + 2 * chunk * dv)


def deltanet_matmul_params(d: Quantity, hk: Quantity, hv: Quantity, dk: Quantity, dv: Quantity) -> Quantity:
    """The matrices of one Gated DeltaNet mixer a token multiplies by: the q/k/v, z, a, b and out
    projections."""
    return d * (2 * hk * dk + hv * dv) + d * hv * dv + 2 * d * hv + hv * dv * d


def deltanet_params(d: Quantity, hk: Quantity, hv: Quantity, dk: Quantity, dv: Quantity, kernel: Quantity) -> Quantity:
    """Parameters of one Gated DeltaNet mixer: its matrices, the convolution's K taps per channel,
    A_log and dt_bias per value head, the gated norm's dv."""
    return deltanet_matmul_params(d, hk, hv, dk, dv) + kernel * (2 * hk * dk + hv * dv) + 2 * hv + dv


def mixer_params(d: Quantity, q: Quantity, kv: Quantity, qkv_bias: Quantity, qk_norm: Quantity, gate: Quantity,
                 linear_share: Quantity, hk: Quantity, hv: Quantity, dk: Quantity, dv: Quantity,
                 kernel: Quantity) -> Quantity:
    """A decoder layer's token-mixer parameters averaged over a hybrid LLM's layers: softmax
    attention's q/k/v/o (the output gate's second q-width matrix, biases, q/k norms) in
    1 - ``linear_share`` of them, a Gated DeltaNet in the rest."""
    attention = 2 * d * q + 2 * d * kv + qkv_bias * (q + 2 * kv) + 2 * qk_norm + gate * d * q
    return (1 - linear_share) * attention + linear_share * deltanet_params(d, hk, hv, dk, dv, kernel)


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
