"""The planner attaches what a profile stored to its recommendation (Recommendation.cost.measured)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from _extras import requires_torch

from vlmplanner.profiling import ProfileTarget, profile_sweep
from vlmplanner.profiling.timing import Timing
from vlmplanner.schemas import Budget, Workload

CHECKPOINT = "llava-hf/llava-1.5-7b-hf"


@requires_torch
def test_recommendation_carries_the_stored_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vlmplanner.planner import Planner
    from vlmplanner.profiling import timing

    query: dict[str, Any] = {"task": "GQA", "budget": Budget(gflops=20000), "workload": Workload(text_tokens=50),
                             "compressor": "none", "model": CHECKPOINT}
    with Planner(f"sqlite:///{tmp_path / 'c.sqlite3'}", hardware="h100-sxm") as planner, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = planner.recommend(**query)  # type: ignore[arg-type]
        assert before.candidate.key == f"{CHECKPOINT}+none@576" and before.cost.measured is None

        target = ProfileTarget.from_checkpoint(CHECKPOINT, catalog=planner.catalog)
        profile_sweep(target, [576], methods=["traced"], flops_only=True, catalog=planner.catalog)
        # a traced FLOP count is not a measured cost: the recommendation does not present it as one
        assert planner.recommend(**query).cost.measured is None  # type: ignore[arg-type]
        (traced,) = [m.model_dump() for m in planner.catalog.cost_measurements(candidate_key=f"{CHECKPOINT}+none@576")]
        assert traced["method"] == "traced" and traced["status"] == "ok"
        prefill = sum(v for k, v in traced["flops"].items() if k != "decode_step")
        assert prefill == pytest.approx(before.cost.prefill_flops, rel=5e-3)  # same workload: Q = 50

        # a timed row, as a GPU run stores it (timing itself is stubbed: no 7B weights here)
        def timed(target: Any, tokens: Any, **kwargs: Any) -> Timing:
            return Timing(device="cuda:0", device_name="NVIDIA H100 80GB HBM3", dtype="bf16", batch_size=1,
                          visual_tokens=576, native_tokens=576, text_tokens=50, compressor="none", prefill_ms=21.5,
                          prefill_ms_spread=0.4, decode_ms_per_token=8.1, decode_ms_spread=0.1,
                          peak_memory_bytes=15 * 2**30, memory_method="stub", warmup=2, repeats=10,
                          decode_steps=8)

        monkeypatch.setattr(timing, "measure_latency", timed)
        monkeypatch.setattr(ProfileTarget, "materialize", lambda self, device, dtype: None)
        monkeypatch.setattr("vlmplanner.profiling.sweep.resolve_device", lambda device: "cuda:0")
        monkeypatch.setattr("vlmplanner.profiling.sweep.device_name", lambda device: "NVIDIA H100 80GB HBM3")
        profile_sweep(target, [576], methods=["measured"], device="cuda", catalog=planner.catalog,
                      check_memory=False)
        rec = planner.recommend(**query)  # type: ignore[arg-type]
    measured = rec.cost.measured
    assert measured is not None and measured["method"] == "measured"
    assert measured["device"] == "NVIDIA H100 80GB HBM3" and measured["prefill_ms"] == 21.5
    assert measured["decode_ms_per_token"] == 8.1 and measured["peak_memory_bytes"] == 15 * 2**30
    assert {"torch", "transformers", "vlmplanner"} <= set(measured["versions"])
    assert json.loads(rec.model_dump_json())["cost"]["measured"]["candidate_key"] == f"{CHECKPOINT}+none@576"
