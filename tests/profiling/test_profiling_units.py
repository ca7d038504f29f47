"""The pieces: timing on CPU, spread, attribution of nested components, requests, the seam."""

from __future__ import annotations

from typing import Any

import pytest

from vlmplanner.errors import ValidationError
from vlmplanner.profiling import ProfileTarget, measure_latency, profile_sweep
from vlmplanner.profiling.flops import attribute
from vlmplanner.profiling.provenance import peak_rss_bytes, reset_peak_rss, versions
from vlmplanner.profiling.requests import build_request
from vlmplanner.profiling.timing import spread


def test_measure_latency_on_cpu_in_bf16_with_a_batch(tiny: dict[str, Any]) -> None:
    import copy

    bundle = copy.deepcopy(tiny["qwen2_vl"])  # materialize() casts the model in place
    timing = measure_latency(ProfileTarget.from_bundle(bundle), 16, device="cpu", dtype="bf16", batch_size=2,
                             warmup=1, repeats=3, decode_steps=2, cpu_threads=1)
    assert timing.dtype == "bf16" and timing.batch_size == 2 and timing.visual_tokens == 16
    assert len(timing.prefill_samples_ms) == 3 and len(timing.decode_samples_ms) == 6
    assert timing.prefill_ms > 0 and timing.decode_ms_per_token is not None and timing.peak_memory_bytes
    assert timing.device_name.startswith("cpu")
    assert any("threads: 1" in note for note in timing.notes)
    none = measure_latency(ProfileTarget.from_bundle(bundle), device="cpu", dtype="bf16", repeats=1, warmup=0,
                           decode_steps=0)
    assert none.decode_ms_per_token is None and none.visual_tokens == none.native_tokens


def test_force_measures_again(tiny: dict[str, Any], store: Any) -> None:
    profile_sweep(tiny["llava"], [4], flops_only=True, catalog=store)
    first = {r.method: r.recorded_at for r in store.cost_measurements()}
    again = profile_sweep(tiny["llava"], [4], flops_only=True, catalog=store, force=True)
    assert len(again.measurements) == 2 and not again.skipped
    rows = store.cost_measurements()
    assert len(rows) == 2 and all(r.recorded_at > first[r.method] for r in rows)  # upserted, not duplicated


def test_spread_is_the_interquartile_range() -> None:
    assert spread([1.0]) == 0.0
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)


def test_attribute_subtracts_nested_components() -> None:
    totals = {"R": 100.0, "R.m.visual": 60.0, "R.m.visual.merger": 10.0, "R.m.lm": 30.0, "R.head": 5.0}
    paths = {"vision_tower": "R.m.visual", "projector": "R.m.visual.merger", "llm_blocks": "R.m.lm",
             "lm_head": "R.head", "compressor": "R.compressor"}
    out = attribute(totals, paths, 100.0)
    assert out == {"vision_tower": 50.0, "projector": 10.0, "llm_blocks": 30.0, "lm_head": 5.0, "compressor": 0.0,
                   "other": 5.0}


def test_requests_below_native(tiny: dict[str, Any]) -> None:
    bundle = tiny["qwen2_vl"]
    request = build_request(bundle.family, bundle.config, visual_tokens=7, text_tokens=5, batch_size=2)
    assert request.features_path and request.visual_tokens == 7 and request.batch_size == 2
    assert request.kwargs["input_ids"].shape == (2, request.text_tokens + 7)
    assert request.kwargs["mm_token_type_ids"].sum().item() == 14    # the per-token inputs follow the ids
    native = build_request(bundle.family, bundle.config, text_tokens=5, batch_size=2)
    assert not native.features_path and request.native_tokens == native.visual_tokens
    for key in ("pixel_values", "image_grid_thw"):   # the seam runs the vision tower on the full image
        assert request.kwargs[key].shape == native.kwargs[key].shape


def test_a_compressor_must_return_what_was_asked(tiny: dict[str, Any]) -> None:
    from vlmplanner.profiling import count_flops

    class Wrong:
        name = "wrong-count"

        def __call__(self, features: Any, tokens: int) -> Any:
            return features[: tokens + 1]

    with pytest.raises(ValidationError) as info:
        count_flops(ProfileTarget.from_bundle(tiny["llava"]), 4, method="traced", compressor=Wrong())
    assert info.value.field == "compressor"
    with pytest.raises(ValidationError):
        count_flops(ProfileTarget.from_bundle(tiny["llava"]), 4, method="traced", compressor=object())


def test_provenance() -> None:
    found = versions(fvcore=True)
    assert {"vlmplanner", "python", "torch", "transformers", "fvcore"} <= set(found)
    assert reset_peak_rss() in (True, False)
    assert (peak_rss_bytes() or 0) > 10 * 2**20
