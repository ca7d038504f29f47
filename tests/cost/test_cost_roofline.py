"""Roofline latency: the closed-form decode sum, bandwidth-bound decoding, and hardware checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlmplanner.cost import Efficiency, breakdown, evaluate
from vlmplanner.cost.roofline import sum_max_linear
from vlmplanner.errors import InvalidHardwareError
from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec, Workload
from vlmplanner.store.shipped import ShippedCatalog


def test_closed_form_equals_a_loop_for_random_lines() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        steps = int(rng.integers(0, 60))
        f0, g0 = rng.normal(0, 10, 2)
        f1, g1 = rng.normal(0, 1, 2)
        if rng.random() < 0.2:
            g1 = f1  # parallel lines
        if rng.random() < 0.1:  # lines crossing exactly at an integer step
            k = int(rng.integers(0, max(steps, 1)))
            g0 = f0 + (f1 - g1) * k
        loop = sum(max(f0 + f1 * j, g0 + g1 * j) for j in range(steps))
        closed = float(sum_max_linear(np.array([f0]), np.array([f1]), np.array([g0]), np.array([g1]), steps)[0])
        assert closed == pytest.approx(loop, rel=1e-9, abs=1e-9)


def _loop_decode_seconds(model: ModelSpec, tokens: int, workload: Workload, hw: Hardware,
                         eff: Efficiency, k_full: int = 0, native: int = 0) -> float:
    """Brute force, step by step, from the architecture numbers (test only)."""
    d, L, I, V_ = model.llm.hidden_size, model.llm.num_layers, model.llm.intermediate_size, model.llm.vocab_size
    kv = model.llm.num_kv_heads * model.llm.head_dim
    b = workload.batch_size
    t_kept = workload.text_tokens + workload.images_per_request * tokens
    t_full = workload.text_tokens + workload.images_per_request * native
    untied = 0 if model.llm.tie_word_embeddings else V_ * d
    streamed = breakdown(model, CompressorSpec(name="none", display_name="", kind="pre-llm",
                                               training="training-free"), 1, Workload()).params["llm"] - untied
    peak = hw.peak_bf16_tflops * 1e12 * eff.compute  # type: ignore[operator]
    bw = hw.memory_bandwidth_gbs * 1e9 * eff.bandwidth  # type: ignore[operator]
    total = 0.0
    for j in range(workload.output_tokens):
        held = k_full * (t_full + j) + (L - k_full) * (t_kept + j)
        flops = L * (2 * (2 * d * d + 2 * d * kv) + 6 * d * I) + 4 * d * held + 2 * d * V_
        data = streamed * 2 + b * 2 * kv * 2 * held
        total += max(b * flops / peak, data / bw)
    return total


@pytest.mark.parametrize("batch", [1, 16, 512])
@pytest.mark.parametrize("checkpoint", ["llava-hf/llava-1.5-7b-hf", "Qwen/Qwen2-VL-2B-Instruct"])
def test_closed_form_decode_latency_equals_a_loop(models: dict[str, ModelSpec],
                                                  compressors: dict[str, CompressorSpec],
                                                  hardware: dict[str, Hardware], batch: int,
                                                  checkpoint: str) -> None:
    model = models[checkpoint]
    rng = np.random.default_rng(batch)
    eff = Efficiency(compute=float(rng.uniform(0.2, 1)), bandwidth=float(rng.uniform(0.2, 1)))
    for hw_name in ("h100-sxm", "l4", "cpu-generic"):
        hw = hardware[hw_name]
        workload = Workload(text_tokens=int(rng.integers(0, 300)), output_tokens=int(rng.integers(1, 300)),
                            batch_size=batch)
        tokens = int(rng.integers(1, model.native_visual_tokens + 1))
        b = breakdown(model, compressors["none"], tokens, workload, hardware=hw, efficiency=eff)
        assert b.latency_s is not None
        assert b.latency_s["decode"] == pytest.approx(_loop_decode_seconds(model, tokens, workload, hw, eff),
                                                      rel=1e-9)
        fastv = breakdown(model, compressors["fastv"], tokens, workload, hardware=hw, efficiency=eff)
        assert fastv.latency_s is not None
        assert fastv.latency_s["decode"] == pytest.approx(
            _loop_decode_seconds(model, tokens, workload, hw, eff, k_full=2, native=model.native_visual_tokens),
            rel=1e-9)


def test_long_outputs_on_h100_are_bandwidth_bound(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                                  hardware: dict[str, Hardware]) -> None:
    hw = hardware["h100-sxm"]
    n, T = 1024, 50 + 576
    b = breakdown(llava7b, compressors["none"], 576, Workload(output_tokens=n), hardware=hw)
    assert b.latency_s is not None
    weights = (b.params["llm"] - 32064 * 4096) * 2  # the decode streams the LLM, not its input embedding
    kv = 2 * 4096 * 2 * 32 * (n * T + n * (n - 1) / 2)  # the cache read at every step
    bandwidth = 3350e9 * 0.8
    assert b.latency_s["decode"] == pytest.approx((n * weights + kv) / bandwidth, rel=1e-12)
    assert b.latency_s["decode"] > 100 * b.decode_flops / (989.4e12 * 0.5)
    # ~4 ms per step at batch 1 (13.2 GB of weights at 3.35 TB/s, profiling.md §7) before efficiency
    assert 3e-3 < b.latency_s["decode"] / n * 0.8 < 6e-3


def test_prefill_is_compute_bound_on_h100(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                          hardware: dict[str, Hardware]) -> None:
    b = breakdown(llava7b, compressors["none"], 576, Workload(), hardware=hardware["h100-sxm"])
    assert b.latency_s is not None
    assert b.latency_s["prefill"] == pytest.approx(b.prefill_flops / (989.4e12 * 0.5), rel=1e-12)


def test_money_per_thousand_requests(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                     hardware: dict[str, Hardware]) -> None:
    hw = hardware["h100-sxm"]
    b = breakdown(llava7b, compressors["none"], 144, Workload(output_tokens=32, batch_size=4), hardware=hw)
    assert b.latency_s is not None and b.usd_per_1k_requests is not None
    assert b.usd_per_1k_requests == pytest.approx(6.88 / 3600 * b.latency_s["total"] / 4 * 1000, rel=1e-12)


def _edited(hw: Hardware, **changes: object) -> Hardware:
    return hw.model_copy(update=changes)


def test_hardware_without_bandwidth_is_rejected(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                                hardware: dict[str, Hardware]) -> None:
    hw = _edited(hardware["h100-sxm"], name="no-bw", memory_bandwidth_gbs=None)
    with pytest.raises(InvalidHardwareError) as info:
        breakdown(llava7b, compressors["none"], 144, Workload(), hardware=hw)
    assert info.value.field == "memory_bandwidth_gbs"
    assert "no-bw" in str(info.value) and "memory_bandwidth_gbs" in str(info.value)


def test_hardware_without_a_peak_for_the_dtype_is_rejected(llava7b: ModelSpec,
                                                           compressors: dict[str, CompressorSpec],
                                                           hardware: dict[str, Hardware]) -> None:
    cpu = hardware["cpu-generic"]
    assert cpu.peak_fp16_tflops is None
    with pytest.raises(InvalidHardwareError) as info:
        evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([64]), Workload(),
                 hardware=cpu, dtype="fp16")
    assert info.value.field == "peak_fp16_tflops" and "cpu-generic" in str(info.value)
    evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([64]), Workload(),
             hardware=cpu, dtype="bf16")  # bf16 has a peak


def test_no_price_and_no_hardware(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                  hardware: dict[str, Hardware]) -> None:
    free = _edited(hardware["h100-sxm"], name="free", price_usd_per_hour=None)
    c = evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([64]), Workload(),
                 hardware=free)
    assert math.isnan(c.usd_per_1k[0]) and math.isfinite(c.latency_s[0])
    b = breakdown(llava7b, compressors["none"], 64, Workload(), hardware=free)
    assert b.usd_per_1k_requests is None and any("no price" in n for n in b.notes)
    c = evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([64]), Workload())
    assert np.isnan(c.latency_s[0]) and np.isnan(c.prefill_s[0]) and np.isnan(c.usd_per_1k[0])
    assert math.isfinite(c.flops[0]) and math.isfinite(c.memory_bytes[0])


def test_paper_accounting_charges_no_decode_time(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                                 hardware: dict[str, Hardware]) -> None:
    b = breakdown(llava7b, compressors["none"], 64, Workload(output_tokens=100), hardware=hardware["h100-sxm"],
                  accounting="paper")
    assert b.latency_s is not None
    assert b.latency_s["decode"] == 0.0 and b.latency_s["total"] == b.latency_s["prefill"]


def test_every_shipped_gpu_works_in_bf16(shipped: ShippedCatalog, llava7b: ModelSpec,
                                         compressors: dict[str, CompressorSpec]) -> None:
    for hw in shipped.hardware:
        c = evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([64]),
                     Workload(output_tokens=8), hardware=hw)
        assert np.isfinite(c.latency_s).all()
