"""Token rules, family checks and FLOP estimates of the built-in cards (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from vlmplanner.compressors import BUILTIN_COMPRESSORS, CompressorCard, compressor_card
from vlmplanner.cost.compressors import FORMULAS, TERMS
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.schemas import CompressorSpec


def test_token_rules_on_llava_grid() -> None:
    assert compressor_card("pool").allowed_tokens(576) == [1, 4, 9, 16, 36, 64, 144, 576]
    # QueCC: kernel = stride s dividing 24, s >= 2 (the paper lists 1, 4, 16, 36, 64, 144; s = 8
    # gives 9 and is just as valid)
    assert compressor_card("quecc").allowed_tokens(576) == [1, 4, 9, 16, 36, 64, 144]
    assert compressor_card("none").allowed_tokens(576) == [576]
    for name in ("cls-topk", "visionzip", "prumerge+", "divprune", "fastv"):
        assert compressor_card(name).allowed_tokens(576) == list(range(1, 577))


def test_token_rules_on_a_qwen_grid() -> None:
    # Qwen2-VL: merged tokens of a 336x448 image form a 12 x 16 grid
    assert compressor_card("pool").allowed_tokens(192, (12, 16)) == [12, 48, 192]
    assert compressor_card("quecc").allowed_tokens(192, (12, 16)) == [12, 48]
    with pytest.raises(ValidationError) as info:
        compressor_card("pool").allowed_tokens(192)          # not a square: the grid is needed
    assert info.value.field == "grid"
    with pytest.raises(ValidationError) as info:
        compressor_card("pool").allowed_tokens(192, (10, 16))
    assert info.value.field == "grid"


@pytest.mark.parametrize(("name", "k", "words"), [
    ("pool", 25, ["25", "tile the 24x24", "144"]),
    ("pool", 577, ["577", "only 576"]),
    ("quecc", 576, ["576", "convolution", "144"]),
    ("none", 64, ["64", "native"]),
    ("cls-topk", 0, ["at least 1"]),
    ("divprune", 2.5, ["integer"]),
    ("fastv", True, ["integer"]),
])
def test_check_tokens_errors(name: str, k: object, words: list[str]) -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        compressor_card(name).check_tokens(k, 576)
    assert info.value.field == "visual_tokens" and info.value.value == k
    for word in words:
        assert word in str(info.value)


def test_families() -> None:
    card = compressor_card("quecc")
    card.check_family("llava")
    with pytest.raises(ValidationError) as info:
        card.check_family("qwen2_vl")
    assert info.value.field == "model_type" and info.value.value == "qwen2_vl"
    assert "supports llava" in str(info.value) and "query" in str(info.value)
    assert not compressor_card("visionzip").supports("qwen2_5_vl")
    assert compressor_card("divprune").supports("qwen2_5_vl")


def test_card_validation() -> None:
    base = {"display_name": "x", "kind": "pre-llm", "training": "training-free", "families": ("llava",)}
    with pytest.raises(ValidationError):
        CompressorCard(name="Has Space", **base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CompressorCard(name="x", **{**base, "kind": "mid-llm"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CompressorCard(name="x", **{**base, "families": ()})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CompressorCard(name="x", requires=("pixels",), **base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CompressorCard(name="x", **{**base, "kind": "in-llm"})  # type: ignore[arg-type]
    assert isinstance(compressor_card("fastv").spec(), CompressorSpec)


def _table(name: str, native: int, k: int, dim: int) -> float:
    """The planner's compressor FLOPs for one image with hv = d = dim and no query pass."""
    values = {"vn": np.array([float(native)]), "d": np.array([float(dim)]),
              "hv": np.array([float(dim)]), "lv": np.array([24.0]), "n_llm": np.array([0.0]),
              "q": np.array([0.0])}
    total = 0.0
    for term, coefficient in FORMULAS[name].terms.items():
        value = float(TERMS[term].value(values)[0])
        total += coefficient * value * (k if TERMS[term].per_token else 1)
    return total


def test_flops_against_the_planners_table() -> None:
    """What each compressor's flops() says against vlmplanner.cost.compressors.FORMULAS.

    Equal (the same formula): none, pool, fastv, divprune, quecc; the same leading term:
    prumerge+; the table is an upper bound: cls-topk, visionzip.
    """
    native, dim = 576, 1024
    for k in (1, 16, 64, 144):
        card = {name: compressor_card(name).flops(native, k, dim) for name in BUILTIN_COMPRESSORS}
        table = {name: _table(name, native, k, dim) for name in BUILTIN_COMPRESSORS}
        for name in ("none", "pool", "fastv", "divprune", "quecc"):
            assert card[name] == table[name], (name, k)
        # the same 2·k·N·Dk similarities, plus key normalisation and the merges
        extra = card["prumerge+"] - table["prumerge+"]
        assert 0 <= extra <= 3 * native * dim + 2 * k * 32 * dim + 8 * native
        for name in ("cls-topk", "visionzip"):
            assert card[name] <= table[name], (name, k)


def test_quecc_flops_include_the_query_pass() -> None:
    card = compressor_card("quecc")
    without = card.flops(576, 1, 1024)
    with_pass = card.flops(576, 1, 1024, llm_params=7e9, query_tokens=50)
    assert with_pass - without == pytest.approx(2 * 7e9 * 50)
