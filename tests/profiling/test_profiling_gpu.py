"""CUDA timing and memory (CUDA events, max_memory_allocated); skipped without a CUDA device."""

from __future__ import annotations

from typing import Any

import pytest
from _extras import TORCH_STACK, need

need(*TORCH_STACK)

import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_measure_on_cuda(store: Any) -> None:
    from profiling_helpers import small_llava

    from vlmplanner.profiling import profile_sweep

    report = profile_sweep(small_llava(), [576, 16], device="cuda", dtype="bf16", batch_sizes=[1, 4],
                           catalog=store, text_tokens=8, warmup=2, repeats=10, decode_steps=4)
    rows = [m for m in report.measurements if m.method == "measured"]
    assert len(rows) == 4 and {r.status for r in rows} == {"ok"}
    name = torch.cuda.get_device_name(0)
    for row in rows:
        assert row.device == name and row.prefill_ms > 0 and row.decode_ms_per_token > 0
        assert row.peak_memory_bytes > 0 and "max_memory_allocated" in row.note
    by = {(int(r.candidate_key.rsplit("@", 1)[1]), r.batch_size): r for r in rows}
    assert by[(576, 4)].peak_memory_bytes > by[(16, 1)].peak_memory_bytes


def test_cuda_flop_counts_match_cpu_ones() -> None:
    """torch may count SDPA differently on CUDA (pytorch #134804): the CPU-traced count is the
    reference, and a CUDA FlopCounterMode run of the same tiny model must agree."""
    from profiling_helpers import small_llava
    from torch.utils.flop_counter import FlopCounterMode

    from vlmplanner.profiling import ProfileTarget, count_flops
    from vlmplanner.profiling.runner import runner_for

    bundle = small_llava()
    target = ProfileTarget.from_bundle(bundle)
    reference = count_flops(target, 144, method="traced")
    model = bundle.model.to("cuda", torch.float16)
    with runner_for(target, model, "none", 144) as runner:   # the seam load() uses, as on CPU
        request = runner.request(target).to("cuda", torch.float16)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            runner.prefill(request)
    assert counter.get_total_flops() == pytest.approx(reference.prefill, rel=1e-6)
