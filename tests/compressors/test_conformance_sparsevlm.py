"""Group "sparsevlm": SparseVLM passes the shipped in-LLM conformance suite, its three stages and
recycled tokens are checked layer by layer on tiny models, and its specific rules (raters, the
schedule, recycling counts, bad inputs) are pinned."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from _extras import requires_torch

from vlmplanner.compressors import get_compressor
from vlmplanner.compressors._cards import sparsevlm_candidates, sparsevlm_recycled
from vlmplanner.compressors.base import LayerInputs
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.testing.compressors import InLLMCompressorConformance

pytestmark = requires_torch  # every check runs a compressor on tensors


class TestSparseVLM(InLLMCompressorConformance):
    compressor_name = "sparsevlm"
    grids = ((6, 6), (4, 6), (12, 12))   # 144 tokens: a drop with several recycled clusters


class TestSparseVLMStagesInTinyModels(InLLMCompressorConformance):
    """Eight LLM layers with K = 2: stages before layers 2, 3 and 5 (and one-token remainder drops), each
    seen by the model."""

    compressor_name = "sparsevlm"
    generation_layers = 8


class TestSparseVLMFourLayers(InLLMCompressorConformance):
    """A 4-layer LLM, K = 2: two stages (before layers 2 and 3)."""

    compressor_name = "sparsevlm"
    generation_layers = 4
    generation_families = ("llava", "qwen2_vl")


def test_schedule_is_the_papers_shape() -> None:
    """32 layers, K = 2: drops before 2, 6, 15; k = 162 of 576 is the paper's 300 / 200 / 110 (the
    last stage keeps 109 from layer 22 on: 300·4 + 200·9 + 110·17 is 10 tokens over 162·30)."""
    assert get_compressor("sparsevlm", 162).schedule(576, 32) == [(2, 300), (6, 200), (15, 110), (22, 109)]
    assert get_compressor("sparsevlm", 576).schedule(576, 32) == [(2, 576)]
    assert get_compressor("sparsevlm", 5).schedule(16, 3) == [(2, 5)]           # one stage fits
    assert get_compressor("sparsevlm", 5).schedule(16, 4) == [(2, 7), (3, 3)]
    assert get_compressor("sparsevlm", 5, prune_layer=1).schedule(16, 2) == [(1, 5)]


def test_recycling_counts() -> None:
    """Of a stage's count, r tokens are clusters: r = m // 10 + 1 for the m = floor(0.3·p) + 1
    candidates of the p pruned, so kept + r is the count; never all of it, none when nothing drops."""
    assert sparsevlm_recycled(576, 300) == 9 and sparsevlm_candidates(576 - 291) == 86
    for present in (2, 16, 144, 576):
        for tokens in range(1, present + 1):
            r = sparsevlm_recycled(present, tokens)
            assert 0 <= r <= tokens - 1
            if tokens == present:
                assert r == 0
            elif r < tokens - 1:
                assert r == sparsevlm_candidates(present - tokens + r) // 10 + 1


def _inputs(embeddings: Any, rows: Any, hidden: Any = None) -> LayerInputs:
    return LayerInputs(embeddings if hidden is None else hidden, text_attention=rows, llm_embeddings=embeddings)


def test_raters_decide_the_ranking() -> None:
    """Image tokens 0..3, text tokens 4..5. Token 4's embedding matches the image, so it alone
    rates: the image tokens it attends to most stay, whatever the other text token attends to."""
    import torch

    embeddings = torch.zeros(1, 6, 2)
    embeddings[0, :4] = torch.tensor([1.0, 0])
    embeddings[0, 4] = torch.tensor([5.0, 0])      # relevant to the image
    embeddings[0, 5] = torch.tensor([0.0, 5])      # not
    rows = torch.zeros(1, 2, 6)
    rows[0, 0, :4] = torch.tensor([0.1, 0.5, 0.1, 0.3])   # the rater
    rows[0, 1, :4] = torch.tensor([0.9, 0.0, 0.9, 0.0])   # not a rater
    sparse = get_compressor("sparsevlm", 2)
    assert sparse.choose(_inputs(embeddings, rows), (0, 4), 4).tolist() == [[0, 1, 2, 3]]
    keep, states = sparse.choose_merged(_inputs(embeddings, rows), (0, 4), 2)
    # 4 -> 2: one kept (token 1, the best) and one cluster of the best pruned candidate (token 3)
    assert sparsevlm_recycled(4, 2) == 1 and keep.tolist() == [[1, 3]]
    assert states is not None and torch.equal(states, embeddings[:, [1, 3]])


def test_recycled_tokens_are_cluster_means() -> None:
    """Two tight groups among the pruned candidates become two merged tokens, each the mean of its
    group, at a member's slot; the kept tokens carry their own states."""
    import torch

    n, text = 60, 3
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, n + text, 8, generator=g) * 0.01
    hidden[0, 0:n:2, 0] += 10.0             # group A: the even tokens
    hidden[0, 1:n:2, 1] += 10.0             # group B: the odd ones
    embeddings = torch.randn(1, n + text, 8, generator=g)
    rows = torch.softmax(torch.randn(1, text, n + text, generator=g), -1)
    tokens = 20
    r = sparsevlm_recycled(n, tokens)
    assert r == 2                           # 42 pruned, 13 candidates, 2 clusters
    keep, states = get_compressor("sparsevlm", tokens).choose_merged(_inputs(embeddings, rows, hidden), (0, n))
    assert states is not None and keep.shape == (1, tokens)
    own = torch.isclose(states, hidden[0, keep[0]]).all(-1)[0]
    assert int((~own).sum()) == r                                 # exactly r slots carry merged states
    merged = states[0, ~own]                                      # one cluster per group, its mean
    assert sorted(merged[:, :2].argmax(-1).tolist()) == [0, 1]
    assert torch.allclose(merged[:, :2].max(-1).values, torch.tensor([10.0, 10.0]), atol=0.05)


def test_needs_text_after_the_image_and_rows_for_it() -> None:
    import torch

    sparse = get_compressor("sparsevlm", 2)
    embeddings = torch.randn(1, 8, 4)
    rows = torch.rand(1, 3, 8)
    with pytest.raises(ValidationError) as info:
        sparse.choose(_inputs(embeddings, rows), (2, 8))         # the image ends the prompt
    assert info.value.field == "image_slice"
    with pytest.raises(ValidationError) as info:
        sparse.choose(_inputs(embeddings, rows), (1, 4))         # 4 tokens after it, 3 rows
    assert info.value.field == "text_attention"
    with pytest.raises(ValidationError) as info:
        sparse.choose(_inputs(embeddings, torch.rand(1, 3, 7)), (2, 6))
    assert info.value.field == "text_attention"
    with pytest.raises(ValidationError) as info:
        sparse.choose(replace(_inputs(embeddings, rows), llm_embeddings=torch.randn(1, 7, 4)), (2, 6))
    assert info.value.field == "llm_embeddings"
    with pytest.raises(ValidationError) as info:
        sparse.select(embeddings, torch.rand(1, 4), (2, 6))      # needs more than an attention row
    assert "text_attention" in str(info.value)


def test_bad_token_counts_and_options() -> None:
    import torch

    with pytest.raises(InvalidTokenCountError):
        get_compressor("sparsevlm", 0)
    with pytest.raises(InvalidTokenCountError):
        get_compressor("sparsevlm", 37, grid=(6, 6))
    with pytest.raises(ValidationError) as info:
        get_compressor("sparsevlm", 4, prune_layer=0)
    assert info.value.field == "prune_layer"
    sparse = get_compressor("sparsevlm", 7)
    embeddings = torch.randn(1, 10, 4)
    with pytest.raises(InvalidTokenCountError) as caught:
        sparse.choose(_inputs(embeddings, torch.rand(1, 2, 10)), (2, 8))     # 6 image tokens, k = 7
    assert caught.value.field == "visual_tokens"
    with pytest.raises(ValidationError) as depth:
        sparse.schedule(6, 2)                                                # no layer after K
    assert depth.value.field == "prune_layer"
