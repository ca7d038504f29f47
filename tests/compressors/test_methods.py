"""Each built-in does what its paper describes, on inputs where the right answer is known."""

from __future__ import annotations

import pytest
from _extras import need

need("torch")  # every test here runs compressors on tensors

import torch

from vlmplanner.compressors import CompressionContext, InLLMCompressor, get_compressor
from vlmplanner.compressors.diversity import max_min_diverse
from vlmplanner.errors import InvalidTokenCountError, ValidationError


def grid_features(h: int, w: int, dim: int = 4, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, h * w, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_none_is_identity() -> None:
    x = grid_features(3, 4)
    out = get_compressor("none", 12).compress(x, CompressionContext((3, 4)))
    assert torch.equal(out.features, x)
    assert out.positions[0, 5].tolist() == [1.0, 1.0]


def test_pool_averages_windows() -> None:
    x = grid_features(24, 24, dim=3)
    out = get_compressor("pool", 144).compress(x, CompressionContext((24, 24)))
    window = x[0].reshape(24, 24, 3)[2:4, 4:6].reshape(-1, 3).mean(0)   # output token (1, 2)
    torch.testing.assert_close(out.features[0, 1 * 12 + 2], window)
    assert out.positions[0, 1 * 12 + 2].tolist() == [2.5, 4.5]
    one = get_compressor("pool", 1).compress(x, CompressionContext((24, 24)))
    torch.testing.assert_close(one.features[0, 0], x[0].mean(0))
    assert one.positions[0, 0].tolist() == [11.5, 11.5]


def test_pool_non_square_grid() -> None:
    x = grid_features(4, 6, dim=2)
    out = get_compressor("pool", 6).compress(x, CompressionContext((4, 6)))  # 2 x 3 windows of 2 x 2
    grid = x[0].reshape(4, 6, 2)
    torch.testing.assert_close(out.features[0, 4], grid[2:4, 2:4].reshape(-1, 2).mean(0))
    assert out.positions[0, 4].tolist() == [2.5, 2.5]


def test_cls_topk_keeps_most_attended_in_order() -> None:
    x = grid_features(4, 4)
    attention = torch.zeros(1, 16, dtype=torch.float64)
    attention[0, [13, 2, 7]] = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    out = get_compressor("cls-topk", 3).compress(x, CompressionContext((4, 4), cls_attention=attention))
    assert torch.equal(out.features[0], x[0, [2, 7, 13]])
    assert out.positions[0].tolist() == [[0.0, 2.0], [1.0, 3.0], [3.0, 1.0]]


def test_visionzip_split_and_contextual_merge() -> None:
    for k, split in ((64, (54, 10)), (128, (108, 20)), (192, (162, 30))):
        compressor = get_compressor("visionzip", k)
        assert (compressor.dominant, compressor.contextual) == split
    # 4 x 4 grid: tokens 0 and 5 dominant; the 14 others hold 2 contextual targets (every 7th of
    # the remaining: tokens 1 and 9). Keys put 2, 3, 4 with target 1 and the rest with target 9.
    x = grid_features(4, 4)
    attention = torch.full((1, 16), 0.01, dtype=torch.float64)
    attention[0, [0, 5]] = 0.5
    keys = torch.zeros(1, 16, 2, dtype=torch.float64)
    keys[0, :, 1] = 1.0
    keys[0, [1, 2, 3, 4], :] = torch.tensor([1.0, 0.0], dtype=torch.float64)
    compressor = get_compressor("visionzip", 4, dominant=2, contextual=2)
    out = compressor.compress(x, CompressionContext((4, 4), cls_attention=attention, keys=keys))
    assert torch.equal(out.features[0, :2], x[0, [0, 5]])
    torch.testing.assert_close(out.features[0, 2], x[0, 1] + x[0, [2, 3, 4]].mean(0))
    others = [6, 7, 8, 10, 11, 12, 13, 14, 15]
    torch.testing.assert_close(out.features[0, 3], x[0, 9] + x[0, others].mean(0))
    # position: halfway between the target and the mean position of what joined it
    assert out.positions[0, 2].tolist() == pytest.approx([(0 + (0 + 0 + 1) / 3) / 2, (1 + (2 + 3 + 0) / 3) / 2])


def test_visionzip_rejects_a_bad_split() -> None:
    with pytest.raises(ValidationError) as info:
        get_compressor("visionzip", 10, dominant=8, contextual=3)
    assert info.value.field == "dominant"


def test_prumerge_plus_keeps_outliers_then_uniform_samples() -> None:
    compressor = get_compressor("prumerge+", 6, neighbours=0)
    attention = torch.full((1, 36), 0.01, dtype=torch.float64)
    attention[0, [3, 20]] = 0.4                                  # the two IQR outliers
    keep = compressor.select(attention)
    # + 4 evenly spaced of the 34 others: their slots 4, 12, 21, 29 are tokens 5, 13, 23, 31
    assert keep[0].tolist() == [3, 5, 13, 20, 23, 31]
    # more outliers than k: the most attended of them
    many = torch.full((1, 36), 0.001, dtype=torch.float64)
    many[0, :6] = torch.linspace(0.1, 0.2, 6, dtype=torch.float64)
    assert get_compressor("prumerge+", 3).select(many)[0].tolist() == [3, 4, 5]


def test_prumerge_plus_merges_key_similar_pruned_tokens() -> None:
    x = grid_features(3, 3)
    attention = torch.full((1, 9), 0.05, dtype=torch.float64)
    attention[0, 4] = 0.6                                        # keep the centre (k = 1)
    keys = torch.eye(9, dtype=torch.float64)[None].clone()
    keys[0, 7] = keys[0, 4]                                      # token 7 has the centre's key
    out = get_compressor("prumerge+", 1, neighbours=1).compress(
        x, CompressionContext((3, 3), cls_attention=attention, keys=keys))
    torch.testing.assert_close(out.features[0, 0], x[0, 4] + 0.05 * x[0, 7])
    torch.testing.assert_close(out.positions[0, 0].double(),
                               torch.tensor([(1 + 0.05 * 2) / 1.05, 1.0], dtype=torch.float64))


def test_divprune_picks_one_token_per_cluster() -> None:
    g = torch.Generator().manual_seed(1)
    centres = torch.nn.functional.normalize(torch.randn(5, 8, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.arange(5).repeat(8)[torch.randperm(40, generator=g)]
    x = (centres[labels] + 0.01 * torch.randn(40, 8, generator=g, dtype=torch.float64))[None]
    keep = max_min_diverse(x, 5)
    assert sorted(labels[keep[0]].tolist()) == [0, 1, 2, 3, 4]
    out = get_compressor("divprune", 5).compress(x, CompressionContext((5, 8)))
    assert torch.equal(out.features[0], x[0, keep[0]])


def test_fastv_keeps_most_attended_image_tokens() -> None:
    compressor = get_compressor("fastv", 2)
    assert isinstance(compressor, InLLMCompressor) and compressor.prune_layer == 2
    assert get_compressor("fastv", 2, prune_layer=3).prune_layer == 3
    hidden = torch.zeros(1, 12, 4)
    attention = torch.zeros(1, 2, 6)
    attention[0, 0, 4], attention[0, 1, 1], attention[0, 1, 4] = 0.9, 0.8, 0.1
    keep = compressor.select(hidden, attention, (3, 9))
    assert keep.tolist() == [[3 + 1, 3 + 4]]
    assert InLLMCompressor.sequence_keep(12, (3, 9), keep).tolist() == [[0, 1, 2, 4, 7, 9, 10, 11]]
    with pytest.raises(InvalidTokenCountError):
        get_compressor("fastv", 7).select(hidden, attention, (3, 9))
    with pytest.raises(ValidationError) as info:
        get_compressor("fastv", 2, prune_layer=0)
    assert info.value.field == "prune_layer"
