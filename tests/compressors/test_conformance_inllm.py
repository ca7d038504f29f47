"""Group "inllm": PyramidDrop and DART pass the shipped in-LLM conformance suite, their schedules
are checked layer by layer on tiny models deep enough for several stages, and their specific bad
inputs raise named errors."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from _extras import requires_torch

from vlmplanner.compressors import get_compressor
from vlmplanner.compressors.base import LayerInputs
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.testing.compressors import InLLMCompressorConformance

pytestmark = requires_torch  # every check runs a compressor on tensors


class TestPyramidDrop(InLLMCompressorConformance):
    compressor_name = "pdrop"


class TestPyramidDropStagesInTinyModels(InLLMCompressorConformance):
    """Eight LLM layers with K = 2: drops before layers 2, 4 and 6, each seen by the model."""

    compressor_name = "pdrop"
    options: ClassVar[dict[str, Any]] = {"prune_layer": 2}
    generation_layers = 8
    generation_prune_layer = 2


class TestDART(InLLMCompressorConformance):
    compressor_name = "dart"


class TestDARTNoTextPivots(InLLMCompressorConformance):
    """Only image pivots (the prompt may end with the image)."""

    compressor_name = "dart"
    options: ClassVar[dict[str, Any]] = {"text_pivots": 0}
    generation_families = ("llava",)


def test_pdrop_schedule_is_the_papers_pyramid() -> None:
    """32 layers, K = 8: drops before 8, 16, 24; k = 168 of 576 is the paper's 288 / 144 / 72."""
    pdrop = get_compressor("pdrop", 168)
    assert pdrop.schedule(576, 32) == [(8, 288), (16, 144), (24, 72)]
    assert get_compressor("pdrop", 64).schedule(576, 32) == [(8, 110), (16, 55), (24, 27)]
    assert get_compressor("pdrop", 576).schedule(576, 32) == [(8, 576)]      # nothing to drop
    # 40 layers: stages start at 8, 19, 29; the floors' remainder (12 tokens over the layers) adds one
    # token to layers 8..19, so layer 20 drops a single token inside the second stage
    assert get_compressor("pdrop", 64).schedule(576, 40) == [(8, 110), (19, 55), (20, 54), (29, 27)]
    # a 3-layer LLM with K = 2 keeps one stage of k
    assert get_compressor("pdrop", 5, prune_layer=2).schedule(16, 3) == [(2, 5)]


def test_pdrop_stages_rank_by_attention() -> None:
    import torch

    pdrop = get_compressor("pdrop", 4)
    hidden = torch.zeros(1, 12, 8)
    attention = torch.tensor([[0.0, 9, 1, 8, 2, 7, 3, 6, 4, 5]])        # image tokens at 1..10
    keep = pdrop.choose(LayerInputs(hidden, attention), (1, 11), 3)
    assert keep.tolist() == [[2, 4, 6]]                                  # the three most attended


def test_dart_keeps_pivots_and_drops_duplicates() -> None:
    import torch

    dart = get_compressor("dart", 3, image_pivots=1, text_pivots=0)
    # image tokens 0..5: token 2 has the largest key norm (the pivot); tokens 0 and 1 duplicate it,
    # 3 is orthogonal, 4 opposite, 5 a near-copy of 3
    keys = torch.zeros(1, 6, 2)
    keys[0, 2] = 5.0
    normed = torch.tensor([[[1.0, 0], [1, 0.01], [1, 0], [0, 1], [-1, 0], [0.01, 1]]])
    keep = dart.choose(LayerInputs(normed, llm_keys=keys, llm_normed_hidden=normed), (0, 6))
    assert keep.tolist() == [[2, 3, 4]]                      # pivot, then the two least similar to it


@pytest.mark.parametrize(("options", "field"), [
    ({"image_pivots": 0}, "image_pivots"), ({"text_pivots": -1}, "text_pivots"),
    ({"image_pivots": 2.5}, "image_pivots"), ({"prune_layer": 0}, "prune_layer"),
])
def test_dart_rejects_bad_options(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        get_compressor("dart", 4, **options)
    assert info.value.field == field


def test_dart_rejects_malformed_keys() -> None:
    import torch

    dart = get_compressor("dart", 2)
    hidden = torch.randn(1, 10, 4)
    with pytest.raises(ValidationError) as info:
        dart.choose(LayerInputs(hidden, llm_keys=torch.randn(1, 9, 4), llm_normed_hidden=hidden), (2, 8))
    assert info.value.field == "llm_keys"
    with pytest.raises(ValidationError) as info:
        dart.select(hidden, torch.rand(1, 6), (2, 8))         # needs more than an attention row
    assert "llm_keys" in str(info.value)


@pytest.mark.parametrize("name", ["pdrop", "dart"])
def test_in_llm_bad_token_counts(name: str) -> None:
    import torch

    with pytest.raises(InvalidTokenCountError):
        get_compressor(name, 0)
    with pytest.raises(InvalidTokenCountError):
        get_compressor(name, 37, grid=(6, 6))
    compressor = get_compressor(name, 7)
    hidden = torch.randn(1, 10, 4)
    inputs = LayerInputs(hidden, torch.rand(1, 6), torch.randn(1, 10, 4), hidden)
    with pytest.raises(InvalidTokenCountError) as info:
        compressor.choose(inputs, (2, 8))                     # 6 image tokens, k = 7
    assert info.value.field == "visual_tokens"
    with pytest.raises(ValidationError) as depth:
        compressor.schedule(6, compressor.prune_layer)         # no layer after K
    assert depth.value.field == "prune_layer"
