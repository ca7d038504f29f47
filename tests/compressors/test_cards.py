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
    The table is a lower bound (the difference pinned term by term): cdpruner, mmtok, trim.
    Group "simple": equal (0) for random, spatial-sampling, sequential-sampling; the same leading
    term 2·k·N·Dk for prumerge; an upper bound for tome (card <= (2/3)·N²·D + 12.5·N·D, within 10 %).
    Group "sparsevlm": with q = 0 the table (0.19·N²·d) bounds the card's clustering from above.
    Group "inllm": equal for dart (keys as wide as d); pdrop within 4·d of the table (the integer
    stage counts n1, n2 each round by less than one token of the table's 18k/7) unless a stage is
    clamped, where the card is below it (test_pdrop_flops_against_the_table checks every k).
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
        # group "textcond": the table is a lower bound; the card adds exactly the query's
        # normalisation 3·D and the work that is not linear in the table's terms
        n = native
        assert card["cdpruner"] - table["cdpruner"] == 3 * dim + n + n * (k - 1) * (k - 2), k
        assert card["mmtok"] - table["mmtok"] == 3 * dim + 4 * n * (n + 1) + n * n + k * (n + 1) * (2 * n + 1), k
        assert card["trim"] - table["trim"] == 3 * dim + n + (n - k + 2) * (dim + 2), k
        # group "simple": the samplers do no arithmetic; prumerge adds top-k, key normalisation and
        # the neighbours' weighted sums to the table's 2·k·N·Dk; tome's rounds stay under the bound
        for name in ("random", "spatial-sampling", "sequential-sampling"):
            assert card[name] == table[name] == 0.0, (name, k)
        extra = card["prumerge"] - table["prumerge"]
        assert extra == native + 3 * native * dim + 2 * k * min(32, native - k) * dim, k
        assert 0.9 * table["tome"] <= card["tome"] <= table["tome"], k
        # group "inllm"
        assert card["dart"] == table["dart"], k
        assert card["pdrop"] - table["pdrop"] <= 4 * dim, k
        assert k < 3 or abs(card["pdrop"] - table["pdrop"]) <= 4 * dim, k
        # group "sparsevlm": with no text tokens (q = 0 here) only the recycling's clustering is
        # left, below the table's 0.19·N²·d (test_sparsevlm_flops_against_the_table: with text)
        assert 0 <= card["sparsevlm"] <= table["sparsevlm"], k


def test_quecc_flops_include_the_query_pass() -> None:
    card = compressor_card("quecc")
    without = card.flops(576, 1, 1024)
    with_pass = card.flops(576, 1, 1024, llm_params=7e9, query_tokens=50)
    assert with_pass - without == pytest.approx(2 * 7e9 * 50)


def test_text_conditioned_flops_include_the_query_pass() -> None:
    """cdpruner, mmtok and trim read the LLM's query embedding: the same extra pass as QueCC's."""
    for name in ("cdpruner", "mmtok", "trim"):
        card = compressor_card(name)
        assert card.flops(576, 16, 1024, llm_params=7e9, query_tokens=50) - card.flops(576, 16, 1024) \
            == pytest.approx(2 * 7e9 * 50), name


def test_pdrop_flops_against_the_table() -> None:
    """Group "inllm": PyramidDrop's card scores 2·d·(N + n1 + n2) with its integer 32-layer schedule;
    the table charges 2·d·(N + 18k/7). Within 4·d while no stage is clamped (3 <= k <= 7N/12: the
    third stage keeps >= 1, the first <= N), and never more than 4·d above it."""
    native, dim = 576, 1024
    card = compressor_card("pdrop")
    for k in range(1, native + 1):
        difference = card.flops(native, k, dim) - _table("pdrop", native, k, dim)
        assert difference <= 4 * dim + 1e-6, k
        if 3 <= k <= 7 * native / 12:
            assert abs(difference) <= 4 * dim + 1e-6, k


def test_sparsevlm_flops_against_the_table() -> None:
    """Group "sparsevlm": the card runs its integer 32-layer schedule (no work where a stage keeps
    every token, a one-token remainder drop where the schedule has one); the table charges the
    raters 4·Q·d·(N + 1830k/487) and the clustering at most 0.19·N²·d. Term by term, for Q = 40 text
    tokens and every k: the card's rater work (with text_tokens = Q less without) is at most 1.25x
    the table's Q terms, and at least 0.85x while the first stage drops (k <= N/2; above, a clamped
    first stage drops nothing and the table over-charges); its clustering (text_tokens = 0) is at
    most the table's 0.19·N²·d."""
    dim, q = 1024, 40
    card = compressor_card("sparsevlm")
    coefficients = FORMULAS["sparsevlm"].terms
    for native in (144, 576, 2880):
        for k in range(1, native + 1, max(1, native // 144)):
            raters = card.flops(native, k, dim, text_tokens=q) - card.flops(native, k, dim)
            table = coefficients["Q*Vn*d"] * q * native * dim + coefficients["Q*V*d"] * q * dim * k
            assert raters <= 1.25 * table, (native, k, raters / table)
            if k <= native / 2:
                assert raters >= 0.85 * table, (native, k, raters / table)
            assert card.flops(native, k, dim) <= coefficients["Vn^2*d"] * native * native * dim, (native, k)
