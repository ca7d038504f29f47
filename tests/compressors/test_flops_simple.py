"""Group "simple": the cards' FLOP formulas against what torch's FlopCounterMode counts.

FlopCounterMode counts matmuls (and convolutions, attention), never elementwise work, sorting,
top-k or gathers. So: the three samplers count 0 and their cards say 0; PruMerge's and ToMe's
cards add the elementwise terms each test names, and PruMerge's dense merge matmul is counted in
full where the card charges only the neighbours' weighted sums.
"""

from __future__ import annotations

from _extras import need

need("torch")  # every test here runs compressors on tensors

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmplanner.compressors import CompressionContext, compressor_card, get_compressor
from vlmplanner.compressors._cards import tome_schedule


def counted(run: object) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()  # type: ignore[operator]
    return int(counter.get_total_flops())


def _inputs(n: int, d: int, dk: int, batch: int = 2) -> tuple[torch.Tensor, CompressionContext]:
    g = torch.Generator().manual_seed(0)
    side = int(n ** 0.5)
    context = CompressionContext((side, side), cls_attention=torch.softmax(torch.randn(batch, n, generator=g), -1),
                                 keys=torch.randn(batch, n, dk, generator=g))
    return torch.randn(batch, n, d, generator=g), context


@pytest.mark.parametrize("name", ["random", "spatial-sampling", "sequential-sampling"])
def test_samplers_do_no_arithmetic(name: str) -> None:
    features, context = _inputs(144, 32, 8)
    for k in (1, 9, 50, 144):
        compressor = get_compressor(name, k)
        assert counted(lambda: compressor.compress(features, context)) == 0   # noqa: B023 - called at once
        assert compressor_card(name).flops(144, k, 32) == 0.0


def test_prumerge_similarities_and_merge() -> None:
    n, d, dk, m = 144, 32, 8, 32
    features, context = _inputs(n, d, dk)
    for k in (1, 9, 36, 130):
        compressor = get_compressor("prumerge", k)
        traced = counted(lambda: compressor.compress(features, context))     # noqa: B023 - called at once
        neighbours = min(m, n - k)
        # per image: kept x all key similarities, and the dense merge matmuls over all N columns
        # (features, and the 2 position coordinates)
        assert traced == 2 * (2 * k * n * dk + 2 * k * n * d + 2 * k * n * 2), k
        card = compressor_card("prumerge").flops(n, k, d, key_dim=dk)
        # the card charges top-k (N) and normalising the keys (3·N·Dk), which the counter never
        # sees, and the merge at its arithmetic (2·k·m·D: m neighbours per kept token) where the
        # implementation multiplies the k x N weight matrix, zeros included (2·k·N·(D + 2))
        assert card - traced / 2 == n + 3 * n * dk + 2 * k * neighbours * d - 2 * k * n * (d + 2), k


def test_prumerge_without_merging_counts_nothing() -> None:
    features, context = _inputs(144, 32, 8)
    compressor = get_compressor("prumerge", 9, neighbours=0)
    assert counted(lambda: compressor.compress(features, context)) == 0


def test_tome_counts_the_bipartite_similarities() -> None:
    n, d = 144, 32
    features, context = _inputs(n, d, 8)
    for k, r in ((1, None), (9, None), (100, None), (144, None), (20, 16)):
        compressor = get_compressor("tome", k, r=r)
        traced = counted(lambda: compressor.compress(features, context))     # noqa: B023 - called at once
        rounds = tome_schedule(n, k, r)
        assert traced == 2 * sum(2 * ((t + 1) // 2) * (t // 2) * d for t, _ in rounds), k
        card = compressor_card("tome").flops(n, k, d, r=r)
        # + normalising the t tokens of every round (3·t·D), adding the merged tokens into their
        # partners (N - k in all, D each) and the final divide by the sizes (k·D)
        extra = 3 * d * sum(t for t, _ in rounds) + (n * d if rounds else 0)
        assert card - traced / 2 == extra, k
