"""Group "inllm": the cards' FLOP formulas of PyramidDrop and DART against what torch's
FlopCounterMode counts when they run (matmuls only; elementwise work is the stated difference)."""

from __future__ import annotations

from _extras import need

need("torch")  # every test here runs compressors on tensors

import torch
from inllm_flops_helpers import DecoderLayer, counted

from vlmplanner.compressors import compressor_card, get_compressor
from vlmplanner.compressors.base import LayerInputs
from vlmplanner.pipeline.inllm import last_token_attention


def test_pdrop_counts_one_attention_row_per_drop() -> None:
    """At every drop of the 32-layer schedule the row q_last·Kᵀ over the image tokens present costs
    2·n·d; FlopCounterMode also counts the recompute's projections (q of the last token 2·d², keys
    of every token 2·T·d²) and the row's text columns (2·(T - n)·d), which the card leaves to the
    LLM's own cost: card = traced - Σ_drops (2·d² + 2·T·d² + 2·(T - n)·d) exactly."""
    d, heads, native, k, text = 32, 4, 144, 16, 10
    pdrop = get_compressor("pdrop", k)
    layer = DecoderLayer(d, heads)
    traced, projections, present = 0, 0, native
    for stage, (_, tokens) in enumerate(pdrop.schedule(native, 32)):
        length = present + text
        hidden = torch.randn(1, length, d, generator=torch.Generator().manual_seed(stage))

        def drop(hidden: torch.Tensor = hidden, tokens: int = tokens, stage: int = stage,
                 present: int = present) -> None:
            row = last_token_attention(layer, hidden, None, None)
            pdrop.choose(LayerInputs(hidden, row, stage=stage), (5, 5 + present), tokens)

        traced += counted(drop)
        projections += 2 * d * d + 2 * length * d * d + 2 * (length - present) * d
        present = tokens
    card = compressor_card("pdrop").flops(native, k, d)
    assert card == traced - projections


def test_dart_counts_the_pivot_similarities() -> None:
    """FlopCounterMode counts the pivots x image tokens cosine matmul 2·P·N·D; the card adds the
    image keys' L1 norms N·Dk and the normalisation 3·N·D, which are elementwise."""
    n, d, dk, k, text = 144, 32, 16, 9, 12
    g = torch.Generator().manual_seed(0)
    length = 5 + n + text
    hidden = torch.randn(2, length, d, generator=g)
    inputs = LayerInputs(hidden, llm_keys=torch.randn(2, length, dk, generator=g),
                         llm_normed_hidden=torch.randn(2, length, d, generator=g))
    dart = get_compressor("dart", k)
    traced = counted(lambda: dart.choose(inputs, (5, 5 + n)))
    pivots = 8
    assert traced == 2 * 2 * pivots * n * d                          # two images
    card = compressor_card("dart").flops(n, k, d, key_dim=dk)
    assert card - traced / 2 == n * dk + 3 * n * d
