"""Sweeps: end to end on CPU, stored as they complete, resumable, OOM and failures recorded."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from vlmplanner.errors import DeviceUnavailableError, InvalidTokenCountError, ValidationError
from vlmplanner.profiling import ProfileTarget, profile_sweep
from vlmplanner.profiling.sweep import SweepInterrupted

TOKENS = [576, 144, 64, 16, 4, 1]
FAST: dict[str, Any] = {"device": "cpu", "dtype": "fp32", "text_tokens": 8, "warmup": 1, "repeats": 5,
                        "decode_steps": 2, "cpu_threads": 1}


def test_sweep_of_a_small_model_over_six_token_counts(small: Any, store: Any) -> None:
    """Compressors are not there yet: compressor none below the native 576 keeps k evenly spaced
    projected tokens (and k placeholders), so the LLM's prefill sees k visual tokens."""
    events: list[tuple[str, str]] = []
    report = profile_sweep(small, TOKENS, catalog=store, progress=lambda e, u, i, n: events.append((e, u.method)),
                           **FAST)
    assert not report.failed and not report.skipped and len(report.measurements) == 3 * len(TOKENS)
    rows = store.cost_measurements()
    assert len(rows) == 3 * len(TOKENS) and {r.status for r in rows} == {"ok"}
    measured = {int(r.candidate_key.rsplit("@", 1)[1]): r for r in rows if r.method == "measured"}
    assert sorted(measured) == sorted(TOKENS)
    for row in rows:  # provenance on every row
        assert {"torch", "transformers", "vlmplanner"} <= set(row.versions)
        assert row.recorded_at is not None and row.dtype == "fp32"
        assert row.candidate_key.startswith("tiny/llava+none@")
    for row in measured.values():
        assert row.device.startswith("cpu") and row.batch_size == 1 and row.output_tokens == 2
        assert row.prefill_ms > 0 and row.decode_ms_per_token > 0 and row.peak_memory_bytes > 0
        assert row.prefill_ms_spread is not None
    # Timings on a shared CPU only ever get slower, and one unit can be hit by a neighbour's burst,
    # so the one wall-clock check is the widest: 584 LLM tokens beat the fastest of the short runs.
    # The ordering itself is checked on traced FLOPs below, which do not drift.
    fastest_short = min(measured[k].prefill_ms for k in (16, 4, 1))
    assert measured[576].prefill_ms > fastest_short, [(k, round(r.prefill_ms, 2)) for k, r in measured.items()]
    traced = {int(r.candidate_key.rsplit("@", 1)[1]): r.flops for r in rows if r.method == "traced"}
    assert all(traced[a]["llm_blocks"] > traced[b]["llm_blocks"] for a, b in itertools.pairwise(TOKENS))
    assert [e for e, _ in events].count("done") == len(report.units)

    again = profile_sweep(small, TOKENS, catalog=store, **FAST)  # a re-run skips what is stored
    assert again.measurements == [] and len(again.skipped) == len(report.units)
    assert len(store.cost_measurements()) == len(rows)


def test_interrupted_sweep_keeps_what_it_did_and_resumes(tiny: dict[str, Any], store: Any) -> None:
    def stop_at_third(event: str, unit: Any, index: int, total: int) -> None:
        if event == "start" and index == 2:
            raise KeyboardInterrupt

    options = {**FAST, "repeats": 2}
    with pytest.raises(SweepInterrupted) as info:
        profile_sweep(tiny["llava"], [16, 4], catalog=store, progress=stop_at_third, **options)
    assert info.value.report.done == 2 and info.value.report.interrupted
    assert len(store.cost_measurements()) == 2
    resumed = profile_sweep(tiny["llava"], [16, 4], catalog=store, **options)
    assert len(resumed.skipped) == 2 and len(resumed.measurements) == 4
    assert len(store.cost_measurements()) == 6


def test_out_of_memory_is_recorded_and_the_sweep_goes_on(tiny: dict[str, Any], store: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from vlmplanner.profiling import timing

    real = timing.measure_latency

    def oom_at_16(target: Any, tokens: Any, **kwargs: Any) -> Any:
        if tokens == 16:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(target, tokens, **kwargs)

    monkeypatch.setattr(timing, "measure_latency", oom_at_16)
    report = profile_sweep(tiny["llava"], [16, 4], catalog=store, methods=["measured"], **{**FAST, "repeats": 2})
    status = {r.candidate_key: r.status for r in store.cost_measurements()}
    assert status == {"tiny/llava+none@16": "oom", "tiny/llava+none@4": "ok"}
    assert not report.failed
    again = profile_sweep(tiny["llava"], [16, 4], catalog=store, methods=["measured"], **{**FAST, "repeats": 2})
    assert len(again.skipped) == 2  # an oom is an answer: not retried unless force


def test_infeasible_configurations_are_recorded_without_running(tiny: dict[str, Any], store: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from vlmplanner.profiling import sweep

    monkeypatch.setattr(sweep, "_available_memory", lambda device: 1024)
    profile_sweep(tiny["llava"], [4], catalog=store, methods=["measured"], batch_sizes=[1, 8], **FAST)
    rows = store.cost_measurements()
    assert {(r.batch_size, r.status) for r in rows} == {(1, "infeasible"), (8, "infeasible")}
    assert all("GiB" in r.note and r.prefill_ms is None for r in rows)


def test_failures_are_stored_and_retried(tiny: dict[str, Any], store: Any) -> None:
    class Broken:
        name = "broken-test"

        def __call__(self, features: Any, tokens: int) -> Any:
            raise RuntimeError("this compressor is broken")

    report = profile_sweep(tiny["llava"], [4], compressor=Broken(), catalog=store, methods=["traced", "analytic"],
                           flops_only=True)
    assert [u.method for u, _ in report.failed] == ["traced"]
    rows = {r.method: r for r in store.cost_measurements()}
    assert rows["traced"].status == "failed" and "this compressor is broken" in rows["traced"].note
    assert rows["analytic"].status == "ok"
    again = profile_sweep(tiny["llava"], [4], compressor=Broken(), catalog=store, methods=["traced", "analytic"],
                          flops_only=True)
    assert [u.method for u in again.skipped] == ["analytic"] and len(again.failed) == 1


def test_token_counts_above_native_fail_before_anything_runs(tiny: dict[str, Any], store: Any) -> None:
    native = ProfileTarget.from_bundle(tiny["llava"]).native_tokens()
    with pytest.raises(InvalidTokenCountError) as info:
        profile_sweep(tiny["llava"], [4, native + 1], catalog=store, **FAST)
    assert info.value.field == "visual_tokens" and info.value.value == native + 1
    assert f"at most {native}" in info.value.message
    assert store.cost_measurements() == []
    with pytest.raises(InvalidTokenCountError):
        profile_sweep(tiny["llava"], [0], catalog=store, **FAST)


def test_device_is_required_and_checked(tiny: dict[str, Any], store: Any) -> None:
    import torch

    with pytest.raises(ValidationError) as info:
        profile_sweep(tiny["llava"], [4], catalog=store)
    assert info.value.field == "device"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError) as unavailable:
            profile_sweep(tiny["llava"], [4], catalog=store, device="cuda")
        assert unavailable.value.field == "device" and "sees no CUDA device" in unavailable.value.message
    missing = f"cuda:{torch.cuda.device_count()}"          # one past the last GPU: absent everywhere
    with pytest.raises(DeviceUnavailableError) as unavailable:
        profile_sweep(tiny["llava"], [4], catalog=store, device=missing)
    assert unavailable.value.value == missing
    with pytest.raises(ValidationError) as info:
        profile_sweep(tiny["llava"], [4], catalog=store, device="tpu")
    assert info.value.field == "device"
    assert store.cost_measurements() == []


def test_other_bad_input(tiny: dict[str, Any], store: Any) -> None:
    with pytest.raises(ValidationError) as info:   # no [CLS] attention to give it on Qwen: refused as load() does
        profile_sweep(tiny["qwen2_vl"], [4], compressor="visionzip", flops_only=True, catalog=store)
    assert info.value.field == "model_type"
    with pytest.raises(ValidationError) as info:
        profile_sweep(tiny["llava"], [4], methods=["measured"], flops_only=True, catalog=store)
    assert info.value.field == "methods"
    with pytest.raises(ValidationError) as info:
        profile_sweep(tiny["llava"], [4], batch_sizes=[0], device="cpu", catalog=store)
    assert info.value.field == "batch_size"
    with pytest.raises(ValidationError) as info:
        profile_sweep(tiny["llava"], [4], device="cpu", dtype="int8", catalog=store)
    assert info.value.field == "dtype"
    assert store.cost_measurements() == []


def test_flops_only_sweep_without_a_catalog_runs_nothing(tiny: dict[str, Any]) -> None:
    report = profile_sweep(tiny["qwen2_vl"], [64, 16], flops_only=True)
    assert [m.method for m in report.measurements] == ["analytic", "traced"] * 2
    assert all(m.device == "none" and m.prefill_ms is None for m in report.measurements)
    assert report.measurements[0].text_tokens == 52  # 50 text + <|vision_start|> + <|vision_end|>
