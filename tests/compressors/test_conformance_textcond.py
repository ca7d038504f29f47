"""The text-conditioned compressors (group "textcond": cdpruner, mmtok, trim) pass the conformance
suite, keep what their papers' objectives prefer, and reject their own bad inputs by name."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import pytest
from _extras import requires_torch

from vlmplanner.compressors import CompressionContext, get_compressor
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.testing.compressors import CompressorConformance

pytestmark = requires_torch  # every check runs a compressor on tensors


class _TextConditioned(CompressorConformance):
    # the query is compared with the tokens by cosine, so it has their width (the LLM's)
    query_dim: ClassVar[int] = CompressorConformance.dim


class TestCDPruner(_TextConditioned):
    compressor_name = "cdpruner"
    token_counts = (1, 4, 16, 24, 36)        # 24 and 36 on 6x6 with D = 16: past the kernel's rank


class TestCDPrunerTheta(_TextConditioned):
    """The paper's relevance/diversity trade-off exp(θ/(2(1-θ))·r)."""

    compressor_name = "cdpruner"
    options: ClassVar[dict[str, Any]] = {"theta": 0.5}


class TestMMTok(_TextConditioned):
    compressor_name = "mmtok"


class TestMMTokTextOnly(_TextConditioned):
    """α = 0: text coverage alone (after the first pick every gain is 0, so ties go by index)."""

    compressor_name = "mmtok"
    options: ClassVar[dict[str, Any]] = {"alpha": 0.0}


class TestTRIM(_TextConditioned):
    compressor_name = "trim"
    token_counts = (1, 2, 9, 23, 24, 36)     # 1: only the aggregate; N: the aggregate is one token


# -- what the methods keep -------------------------------------------------------------------
def _inputs(n: int = 36, d: int = 16, batch: int = 2, seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, n, d, generator=g, dtype=torch.float64),
            torch.randn(batch, d, generator=g, dtype=torch.float64))


def _kept(out: Any, grid: tuple[int, int]) -> list[list[int]]:
    """Raster indices of output positions that sit on grid points."""
    rows, cols = out.positions[..., 0], out.positions[..., 1]
    kept: list[list[int]] = (rows * grid[1] + cols).round().long().tolist()
    return kept


def test_cdpruner_is_the_greedy_log_det_subset() -> None:
    """The incremental Cholesky picks what the naive greedy over determinants of L_S picks."""
    import torch

    from vlmplanner.compressors._tensor import unit
    from vlmplanner.compressors.textcond import CDPruner

    features, query = _inputs()
    compressor = CDPruner(8, grid=(6, 6))
    out = compressor.compress(features, CompressionContext((6, 6), query=query))
    for b in range(2):
        x = unit(features[b])
        r = compressor.quality((x @ unit(query[b])).unsqueeze(0))[0]
        kernel = r[:, None] * (x @ x.T) * r[None, :]
        chosen: list[int] = []
        for _ in range(8):
            dets = {j: torch.linalg.det(kernel[[*chosen, j]][:, [*chosen, j]]).item()
                    for j in range(36) if j not in chosen}
            chosen.append(max(dets, key=lambda j: dets[j]))
        assert _kept(out, (6, 6))[b] == sorted(chosen)


def test_cdpruner_theta_zero_ignores_the_query() -> None:
    """θ = 0 makes every quality exp(0) = 1: pure diversity, whatever the instruction."""
    import torch

    features, query = _inputs()
    compressor = get_compressor("cdpruner", 6, theta=0.0, grid=(6, 6))
    first = compressor.compress(features, CompressionContext((6, 6), query=query))
    other = compressor.compress(features, CompressionContext((6, 6), query=-query))
    assert torch.equal(first.positions, other.positions)
    relevant = get_compressor("cdpruner", 6, grid=(6, 6))
    assert not torch.equal(relevant.compress(features, CompressionContext((6, 6), query=query)).positions,
                           relevant.compress(features, CompressionContext((6, 6), query=-query)).positions)


def test_mmtok_is_the_greedy_coverage_subset() -> None:
    import torch

    from vlmplanner.compressors._tensor import unit

    features, query = _inputs()
    out = get_compressor("mmtok", 5, grid=(6, 6)).compress(features, CompressionContext((6, 6), query=query))
    for b in range(2):
        x = unit(features[b])
        text = torch.softmax((x @ unit(query[b])) / 0.02, dim=-1).unsqueeze(0)
        vision = torch.softmax((x @ x.T) / 0.2, dim=-1) * (0.5 / 36)
        cover = torch.cat([text, vision])
        chosen: list[int] = []
        for _ in range(5):
            value = {j: cover[:, [*chosen, j]].amax(dim=1).sum().item() for j in range(36) if j not in chosen}
            chosen.append(max(value, key=lambda j: value[j]))
        assert _kept(out, (6, 6))[b] == sorted(chosen)


def test_mmtok_first_pick_follows_the_query() -> None:
    """With a sharp text temperature the token the query points at covers the text target best."""
    features, _ = _inputs()
    query = features[:, 17] * 3.0
    out = get_compressor("mmtok", 1, grid=(6, 6)).compress(features, CompressionContext((6, 6), query=query))
    assert _kept(out, (6, 6)) == [[17], [17]]


def test_trim_keeps_the_most_similar_and_the_mean_of_the_rest() -> None:
    import torch

    from vlmplanner.compressors._tensor import unit

    features, query = _inputs()
    k = 7
    out = get_compressor("trim", k, grid=(6, 6)).compress(features, CompressionContext((6, 6), query=query))
    for b in range(2):
        ranking = (unit(features[b]) @ unit(query[b])).argsort(descending=True)
        top = sorted(ranking[: k - 1].tolist())
        assert _kept(out, (6, 6))[b][: k - 1] == top
        rest = [i for i in range(36) if i not in top]
        torch.testing.assert_close(out.features[b, -1], features[b, rest].mean(dim=0))
        centroid = torch.tensor([[i // 6, i % 6] for i in rest], dtype=torch.float32).mean(dim=0)
        torch.testing.assert_close(out.positions[b, -1], centroid)


def test_trim_outlier_counts_are_the_papers_adaptive_k() -> None:
    import torch

    from vlmplanner.compressors.textcond import TRIM

    features, query = _inputs(batch=1)
    features[0, [3, 20]] = query[0] * 5          # two tokens that match the instruction
    counts = TRIM.outlier_counts(features, query)
    assert counts.dtype == torch.long and counts.tolist() == [3]   # the two outliers + the aggregate


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cdpruner", "mmtok", "trim"])
def test_query_of_another_width_is_named(name: str) -> None:
    features, _ = _inputs()
    import torch

    with pytest.raises(ValidationError) as info:
        get_compressor(name, 4).compress(features, CompressionContext((6, 6), query=torch.zeros(2, 12)))
    assert info.value.field == "context.query" and "12" in str(info.value) and "16" in str(info.value)


@pytest.mark.parametrize("name", ["cdpruner", "mmtok", "trim"])
def test_missing_query_is_named(name: str) -> None:
    features, _ = _inputs()
    with pytest.raises(ValidationError) as info:
        get_compressor(name, 4).compress(features, CompressionContext((6, 6)))
    assert info.value.field == "context.query" and "query" in str(info.value)


@pytest.mark.parametrize(("name", "k"), list(itertools.product(["cdpruner", "mmtok", "trim"], [0, 37, 2.5, True])))
def test_bad_token_counts(name: str, k: Any) -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        get_compressor(name, k, grid=(6, 6))
    assert info.value.field == "visual_tokens"


@pytest.mark.parametrize(("name", "option", "value"), [
    ("cdpruner", "theta", 1.0), ("cdpruner", "theta", -0.1), ("cdpruner", "theta", "0.5"),
    ("mmtok", "alpha", -1.0), ("mmtok", "text_temperature", 0.0), ("mmtok", "vision_temperature", float("nan")),
    ("mmtok", "alpha", True),
])
def test_bad_options_are_named(name: str, option: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        get_compressor(name, 4, **{option: value})
    assert info.value.field == option and option in str(info.value)
