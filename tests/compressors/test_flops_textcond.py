"""Group "textcond" (cdpruner, mmtok, trim): the cards' FLOPs against what FlopCounterMode counts.

FlopCounterMode counts the matmuls (bmm) only: the similarity products, and CDPruner's
incremental-Cholesky projections. The cards also charge the elementwise work (normalising, the
softmaxes, min-max, the greedy updates, the mean), so each test pins exactly those terms as the
difference. N tokens of width D, one query of width Dq = D, k kept, per image.
"""

from __future__ import annotations

from _extras import need

need("torch")  # every test here runs compressors on tensors

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmplanner.compressors import CompressionContext, compressor_card, get_compressor

GRID, D, BATCH = (12, 12), 32, 2
N = GRID[0] * GRID[1]


def counted(name: str, k: int) -> int:
    """FlopCounterMode's total per image for one compress() of a batch of BATCH images."""
    g = torch.Generator().manual_seed(0)
    features = torch.randn(BATCH, N, D, generator=g)
    context = CompressionContext(GRID, query=torch.randn(BATCH, D, generator=g))
    compressor = get_compressor(name, k, grid=GRID)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        compressor.compress(features, context)
    total = int(counter.get_total_flops())
    assert total % BATCH == 0
    return total // BATCH


@pytest.mark.parametrize("k", [1, 2, 9, 40])
def test_cdpruner(k: int) -> None:
    traced = counted("cdpruner", k)
    # all-pairs cosine, the query relevance, and pick i's projection on the i earlier Cholesky rows
    assert traced == 2 * N * N * D + 2 * N * D + N * (k - 1) * (k - 2)
    card = compressor_card("cdpruner").flops(N, k, D)
    # normalising tokens and query, min-max and the kernel diagonal, kernel rows and residual updates
    assert card - traced == 3 * N * D + 3 * D + 7 * N + 6 * N * (k - 1)


@pytest.mark.parametrize("k", [1, 9, 40])
def test_mmtok(k: int) -> None:
    traced = counted("mmtok", k)
    assert traced == 2 * N * N * D + 2 * N * D                # vision->vision and text->vision cosines
    card = compressor_card("mmtok").flops(N, k, D)
    # normalising, the two softmaxes and the α/N weight, and the greedy gains and max updates
    assert card - traced == 3 * N * D + 3 * D + 4 * N * (N + 1) + N * N + k * (N + 1) * (2 * N + 1)


@pytest.mark.parametrize("k", [1, 9, 40, N])
def test_trim(k: int) -> None:
    traced = counted("trim", k)
    assert traced == 2 * N * D                                # the query similarity of every token
    card = compressor_card("trim").flops(N, k, D)
    # normalising, the top-(k-1), and the mean and centroid of the other N-k+1 tokens
    assert card - traced == 3 * N * D + 3 * D + N + (N - k + 2) * (D + 2)
