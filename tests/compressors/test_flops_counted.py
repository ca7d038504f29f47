"""The cards' FLOP formulas against what torch's FlopCounterMode counts when the compressors run.

FlopCounterMode counts matmuls, convolutions and (with the dense formula registered for CPU)
attention, never elementwise work; the cards also charge the few elementwise passes, so each
test says exactly which terms make up the difference.
"""

from __future__ import annotations

from _extras import need

need("torch")  # every test here runs compressors on tensors

import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmplanner.compressors import CompressionContext, compressor_card, get_compressor
from vlmplanner.compressors.quecc import QueCC
from vlmplanner.profiling.flops import sdpa_cpu_mapping


def counted(run: object) -> int:
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=sdpa_cpu_mapping()) as counter:
        run()  # type: ignore[operator]
    return int(counter.get_total_flops())


def test_divprune_counts_every_pairwise_distance() -> None:
    n, d, k = 144, 32, 9
    features = torch.randn(2, n, d, generator=torch.Generator().manual_seed(0))
    compressor = get_compressor("divprune", k)
    traced = counted(lambda: compressor.compress(features, CompressionContext((12, 12))))
    assert traced == 2 * 2 * n * n * d                              # two images, all N² pairs
    card = compressor_card("divprune").flops(n, k, d)
    assert card - traced / 2 == 3 * n * d + 2 * k * n               # normalising + greedy updates


def test_quecc_dense_projections_and_local_attention() -> None:
    e, m, dq = 16, 64, 24
    for k, grid in ((1, (12, 12)), (4, (12, 12)), (36, (12, 12))):
        n = grid[0] * grid[1]
        quecc = QueCC(k, grid=grid, vision_dim=e, multi_dim=m, query_dim=dq, heads=2, allow_untrained=True,
                      seed=0)
        g = torch.Generator().manual_seed(1)
        context = CompressionContext(grid, query=torch.randn(1, dq, generator=g),
                                     multi_layer_features=torch.randn(1, n, m, generator=g))
        features = torch.randn(1, n, e, generator=g)
        traced = counted(lambda: quecc.compress(features, context))  # noqa: B023 - called at once
        card = compressor_card("quecc").flops(n, k, e, multi_dim=m, query_dim=dq)
        assert card - traced == n * e, k                            # the query added to every token
