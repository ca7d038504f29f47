"""Group "sparsevlm": SparseVLM's card FLOPs against what torch's FlopCounterMode counts when its
drops run (matmuls only; elementwise work and the LLM's own projections are the stated difference)."""

from __future__ import annotations

from _extras import need

need("torch")  # every test here runs compressors on tensors

import torch
from inllm_flops_helpers import DecoderLayer, counted

from vlmplanner.compressors import compressor_card, get_compressor
from vlmplanner.compressors._cards import sparsevlm_candidates, sparsevlm_recycled
from vlmplanner.compressors.base import LayerInputs
from vlmplanner.pipeline.inllm import tail_attention


def test_sparsevlm_counts_raters_and_recycling() -> None:
    """Every drop of the 32-layer schedule: the hooks' text rows (tail_attention) then choose_merged.
    FlopCounterMode counts the rater relevance 2·n·Tt·D, the rows' logits 2·Tt·T·D, the raters'
    mean 2·Tt·n and the candidates' Gram matrix 2·m²·D -- and the rows' projections (q of the Tt
    rows 2·Tt·D², keys of every token 2·T·D²) and their text columns 2·Tt·(T - n)·D, which the
    card leaves to the LLM's own cost, while the card adds the merging's m·D adds (elementwise):
    card = traced - Σ_drops (2·Tt·D² + 2·T·D² + 2·Tt·(T - n)·D) + Σ_drops m·D exactly."""
    d, heads, native, k, prefix, text = 32, 4, 144, 24, 5, 9
    sparse = get_compressor("sparsevlm", k)
    layer = DecoderLayer(d, heads)
    traced, projections, merges, present = 0, 0, 0, native
    recycled = 0
    for stage, (_, tokens) in enumerate(sparse.schedule(native, 32)):
        length = prefix + present + text
        g = torch.Generator().manual_seed(stage)
        hidden = torch.randn(1, length, d, generator=g)
        embeddings = torch.randn(1, length, d, generator=g)

        def drop(hidden: torch.Tensor = hidden, embeddings: torch.Tensor = embeddings, tokens: int = tokens,
                 stage: int = stage, present: int = present) -> None:
            rows = tail_attention(layer, hidden, None, None, text)
            inputs = LayerInputs(hidden, stage=stage, text_attention=rows, llm_embeddings=embeddings)
            sparse.choose_merged(inputs, (prefix, prefix + present), tokens)

        traced += counted(drop)
        r = sparsevlm_recycled(present, tokens)
        recycled += r
        projections += 2 * text * d * d + 2 * length * d * d + 2 * text * (length - present) * d
        merges += sparsevlm_candidates(present - tokens + r) * d if r else 0
        present = tokens
    assert recycled > 0                                          # the recycling ran
    card = compressor_card("sparsevlm").flops(native, k, d, text_tokens=text)
    assert card == traced - projections + merges
