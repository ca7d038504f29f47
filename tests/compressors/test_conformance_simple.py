"""Group "simple": random, spatial-sampling, sequential-sampling, prumerge and tome pass the
conformance suite, do what their papers describe, and reject bad options naming the field."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from _extras import requires_torch

from vlmplanner.compressors import CompressionContext, get_compressor
from vlmplanner.compressors._cards import tome_schedule
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.testing.compressors import CompressorConformance

pytestmark = requires_torch  # every check runs a compressor on tensors


class TestRandom(CompressorConformance):
    compressor_name = "random"


class TestRandomOtherSeed(CompressorConformance):
    compressor_name = "random"
    options: ClassVar[dict[str, Any]] = {"seed": 7}


class TestSpatialSampling(CompressorConformance):
    compressor_name = "spatial-sampling"
    token_counts = (1, 4, 6, 7, 9, 13, 24, 36)        # sub-grids and the raster fallback


class TestSequentialSampling(CompressorConformance):
    compressor_name = "sequential-sampling"


class TestPruMerge(CompressorConformance):
    compressor_name = "prumerge"


class TestPruMergeNoMerge(CompressorConformance):
    compressor_name = "prumerge"
    options: ClassVar[dict[str, Any]] = {"neighbours": 0}


class TestToMe(CompressorConformance):
    compressor_name = "tome"
    token_counts = (1, 2, 5, 17, 18, 23, 24, 35, 36)  # one round, several, an odd last round


class TestToMeSmallRounds(CompressorConformance):
    compressor_name = "tome"
    options: ClassVar[dict[str, Any]] = {"r": 3}


# -- what each method keeps -----------------------------------------------------------------------

def _inputs(grid: tuple[int, int], batch: int = 2, dim: int = 8, seed: int = 0) -> tuple[Any, CompressionContext]:
    import torch

    g = torch.Generator().manual_seed(seed)
    n = grid[0] * grid[1]
    features = torch.randn(batch, n, dim, generator=g)
    context = CompressionContext(grid, cls_attention=torch.softmax(torch.randn(batch, n, generator=g) * 2, -1),
                                 keys=torch.randn(batch, n, 4, generator=g))
    return features, context


def _kept(out: Any, grid: tuple[int, int]) -> list[int]:
    rows, cols = out.positions[0, :, 0], out.positions[0, :, 1]
    return [int(i) for i in (rows * grid[1] + cols).long().tolist()]


def test_sequential_keeps_the_first_k() -> None:
    features, context = _inputs((6, 6))
    out = get_compressor("sequential-sampling", 8).compress(features, context)
    assert _kept(out, (6, 6)) == list(range(8))
    assert (out.features == features[:, :8]).all()


def test_spatial_sampling_grids_and_fallback() -> None:
    from vlmplanner.compressors.sampling import spatial_grid_shape

    assert spatial_grid_shape(24, 24, 144) == (12, 12)
    assert spatial_grid_shape(24, 24, 36) == (6, 6)
    assert spatial_grid_shape(24, 24, 48) == (8, 6)               # ties go to more rows
    assert spatial_grid_shape(12, 16, 12) == (3, 4)               # Qwen-like 12 x 16 grid
    assert spatial_grid_shape(24, 24, 7) is None                  # 1 x 7 is too skewed: raster fallback
    features, context = _inputs((24, 24))
    out = get_compressor("spatial-sampling", 36).compress(features, context)
    rows = sorted({int(r) for r in out.positions[0, :, 0].tolist()})
    assert rows == [2, 6, 10, 14, 18, 22]                         # centres of six 4-row bands
    out = get_compressor("spatial-sampling", 7).compress(features, context)
    assert _kept(out, (24, 24)) == [41, 123, 205, 288, 370, 452, 534]  # floor((i + 0.5)·576/7)
    full = get_compressor("spatial-sampling", 576).compress(features, context)
    assert _kept(full, (24, 24)) == list(range(576))


def test_random_is_seeded_uniform_and_the_same_for_every_image() -> None:
    import torch

    from vlmplanner.compressors.sampling import RandomPruning

    features, context = _inputs((12, 12), batch=3)
    out = get_compressor("random", 20).compress(features, context)
    kept = _kept(out, (12, 12))
    assert kept == sorted(set(kept)) and len(kept) == 20
    for i in range(3):                                            # one fixed mask per (seed, grid, k)
        assert (out.positions[i] == out.positions[0]).all()
    torch.manual_seed(123)                                        # the global RNG plays no part
    assert _kept(get_compressor("random", 20).compress(features, context), (12, 12)) == kept
    other = _kept(get_compressor("random", 20, seed=1).compress(features, context), (12, 12))
    assert other != kept
    # uniform: over many seeds every token is kept about k/N of the time
    counts = torch.zeros(144)
    for seed in range(200):
        counts[RandomPruning(36, seed=seed).indices(12, 12)] += 1
    assert counts.min() > 0 and abs(counts.mean().item() - 200 * 36 / 144) < 1e-9


def test_prumerge_keeps_the_most_attended_outliers_first() -> None:
    import torch

    from vlmplanner.compressors.merging import PruMerge

    n, k = 36, 6
    attention = torch.full((1, n), 0.01)
    outliers = [3, 10, 20, 31]                                    # four IQR outliers, fewer than k
    attention[0, outliers] = torch.tensor([0.30, 0.20, 0.25, 0.15])
    attention[0, [5, 7]] = torch.tensor([0.02, 0.015])            # the next most attended
    context = CompressionContext((6, 6), cls_attention=attention, keys=torch.randn(1, n, 4))
    keep = PruMerge(k).select(attention)
    assert keep[0].tolist() == sorted([*outliers, 5, 7])
    assert PruMerge(2).select(attention)[0].tolist() == [3, 20]  # more outliers than k
    out = get_compressor("prumerge", k, neighbours=0).compress(torch.randn(1, n, 8), context)
    assert _kept(out, (6, 6)) == sorted([*outliers, 5, 7])


def test_prumerge_merges_like_prumerge_plus() -> None:
    """Same kept set -> the same merge: PruMerge reuses PruMerge+'s merge step."""
    import torch

    from vlmplanner.compressors.attention import PruMergePlus
    from vlmplanner.compressors.merging import PruMerge

    features, context = _inputs((6, 6), batch=1)
    prumerge = PruMerge(5, neighbours=4)
    plus = PruMergePlus(5, neighbours=4)
    plus.select = prumerge.select  # type: ignore[method-assign]
    a, b = prumerge.compress(features, context), plus.compress(features, context)
    assert torch.equal(a.features, b.features) and torch.equal(a.positions, b.positions)
    assert context.cls_attention is not None
    keep = prumerge.select(context.cls_attention)[0]
    kept = features[0, keep]
    assert not torch.allclose(a.features[0], kept)                # neighbours were added


def test_tome_schedule_halves_until_k() -> None:
    assert tome_schedule(576, 144) == [(576, 288), (288, 144)]
    assert tome_schedule(576, 100) == [(576, 288), (288, 144), (144, 44)]
    assert tome_schedule(36, 36) == []
    assert tome_schedule(10, 1) == [(10, 5), (5, 2), (3, 1), (2, 1)]
    assert tome_schedule(12, 4, r=3) == [(12, 3), (9, 3), (6, 2)]


def test_tome_merges_identical_tokens_by_size_weighted_means() -> None:
    import torch

    # a 2 x 4 grid whose tokens come in identical pairs (columns 0-1 and 2-3 of each row, one
    # one-hot vector per pair): one round (k = 4) merges each even token into the odd one beside
    # it, so each pair's mean is its vector and sits between the two patches
    pairs = torch.eye(4)
    grid = (2, 4)
    features = pairs.repeat_interleave(2, dim=0).unsqueeze(0)               # [1, 8, 4]
    out = get_compressor("tome", 4).compress(features, CompressionContext(grid))
    torch.testing.assert_close(out.features[0], pairs)
    torch.testing.assert_close(out.positions[0], torch.tensor([[0.0, 0.5], [0.0, 2.5], [1.0, 0.5], [1.0, 2.5]]))


def test_tome_keeps_the_mean_of_everything() -> None:
    """Size-weighted merging conserves the sum: the size-weighted mean of the output is the input's mean."""
    import torch

    features, context = _inputs((6, 6), batch=1, seed=3)
    for r in (None, 1, 4):
        out = get_compressor("tome", 1, r=r).compress(features.double(), context)
        torch.testing.assert_close(out.features[0, 0], features[0].double().mean(0))
        torch.testing.assert_close(out.positions[0, 0], torch.tensor([2.5, 2.5]))


def test_tome_tokens_stay_in_raster_order_of_their_anchor() -> None:
    features, context = _inputs((6, 6), batch=1, seed=5)
    out = get_compressor("tome", 36).compress(features, context)  # no round: the input unchanged
    assert (out.features == features).all()
    assert _kept(out, (6, 6)) == list(range(36))


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "option", "value"), [
    ("random", "seed", -1), ("random", "seed", 1.5), ("random", "seed", True),
    ("tome", "r", 0), ("tome", "r", 2.0), ("tome", "r", False),
    ("prumerge", "neighbours", -2),
])
def test_bad_options_are_named(name: str, option: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        get_compressor(name, 4, **{option: value})
    assert info.value.field == option and info.value.value == value


@pytest.mark.parametrize("name", ["random", "spatial-sampling", "sequential-sampling", "prumerge", "tome"])
def test_bad_token_counts(name: str) -> None:
    for k in (0, 37, 2.0):
        with pytest.raises(InvalidTokenCountError) as info:
            get_compressor(name, k, grid=(6, 6))  # type: ignore[arg-type]
        assert info.value.field == "visual_tokens"


def test_prumerge_needs_cls_attention_and_keys_and_llava() -> None:
    import torch

    compressor = get_compressor("prumerge", 4)
    features = torch.randn(1, 36, 8)
    for missing in ("cls_attention", "keys"):
        context = CompressionContext((6, 6), cls_attention=torch.rand(1, 36), keys=torch.randn(1, 36, 4))
        with pytest.raises(ValidationError) as info:
            compressor.compress(features, context.without(missing))
        assert info.value.field == f"context.{missing}"
    with pytest.raises(ValidationError) as family:
        get_compressor("prumerge", 4, model_type="qwen2_vl")
    assert family.value.field == "model_type"
    for name in ("random", "spatial-sampling", "sequential-sampling", "tome"):
        get_compressor(name, 4, model_type="qwen2_5_vl")          # content-blind / features only: every family
