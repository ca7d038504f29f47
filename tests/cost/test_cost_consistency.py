"""evaluate() and breakdown() agree, and the costs move the way the formulas say they must."""

from __future__ import annotations

import numpy as np
import pytest

from vlmplanner.cost import CostArrays, Efficiency, breakdown, evaluate
from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec, Workload
from vlmplanner.store.shipped import ShippedCatalog


def one(model: ModelSpec, compressor: CompressorSpec, tokens: int, workload: Workload, **kw: object) -> CostArrays:
    return evaluate([model], np.array([0]), [compressor], np.array([0]), np.array([tokens]), workload, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("accounting", ["full", "paper"])
@pytest.mark.parametrize("hardware_name", [None, "h100-sxm", "l4"])
def test_breakdown_equals_evaluate(shipped: ShippedCatalog, hardware: dict[str, Hardware],
                                   accounting: str, hardware_name: str | None) -> None:
    rng = np.random.default_rng(7)
    models = shipped.models
    comps = shipped.compressors
    workload = Workload(text_tokens=77, output_tokens=33, images_per_request=2, batch_size=3)
    n = 60
    mi = rng.integers(0, len(models), n)
    ci = rng.integers(0, len(comps), n)
    native = np.array([models[i].native_visual_tokens for i in mi])
    tokens = 1 + (rng.random(n) * native).astype(int)
    hw = None if hardware_name is None else hardware[hardware_name]
    arrays = evaluate(models, mi, comps, ci, tokens, workload, hardware=hw, accounting=accounting)  # type: ignore[arg-type]
    assert len(arrays) == n
    for k in range(n):
        b = breakdown(models[mi[k]], comps[ci[k]], int(tokens[k]), workload, hardware=hw,
                      accounting=accounting)  # type: ignore[arg-type]
        assert b.total_flops == arrays.flops[k]
        assert b.prefill_flops == arrays.prefill_flops[k]
        assert b.decode_flops == arrays.decode_flops[k]
        assert sum(b.flops.values()) == pytest.approx(b.total_flops, rel=1e-12)
        assert b.memory_bytes["total"] == arrays.memory_bytes[k]
        if hw is None:
            assert b.latency_s is None and np.isnan(arrays.latency_s[k]) and np.isnan(arrays.prefill_s[k])
        else:
            assert b.latency_s is not None
            assert b.latency_s["total"] == arrays.latency_s[k]
            assert b.latency_s["prefill"] == arrays.prefill_s[k]
            assert b.usd_per_1k_requests == arrays.usd_per_1k[k]


def test_cost_is_monotonic_in_visual_tokens(shipped: ShippedCatalog, hardware: dict[str, Hardware]) -> None:
    workload = Workload(output_tokens=64)
    for model in shipped.models:
        for compressor in shipped.compressors:
            tokens = np.unique(np.linspace(1, model.native_visual_tokens, 12).astype(int))
            size = tokens.shape[0]
            c = evaluate([model], np.zeros(size, int), [compressor], np.zeros(size, int), tokens, workload,
                         hardware=hardware["h100-sxm"])
            for name in ("flops", "prefill_flops", "decode_flops", "memory_bytes", "latency_s"):
                values = getattr(c, name)
                assert np.all(np.diff(values) >= 0), (model.checkpoint, compressor.name, name)
            if not (compressor.kind == "in-llm" and compressor.prune_layer is None):
                assert np.all(np.diff(c.prefill_flops) > 0), (model.checkpoint, compressor.name)


def test_in_llm_costs_more_than_pre_llm_at_the_same_tokens(llava7b: ModelSpec,
                                                            compressors: dict[str, CompressorSpec]) -> None:
    workload = Workload(output_tokens=16)
    for name in ("fastv", "pdrop", "sparsevlm", "dart"):
        in_llm = breakdown(llava7b, compressors[name], 64, workload)
        pre_llm = breakdown(llava7b, compressors["visionzip"], 64, workload)
        assert in_llm.flops["llm_blocks"] > pre_llm.flops["llm_blocks"]
        assert in_llm.total_flops > pre_llm.total_flops
        assert in_llm.memory_bytes["kv_cache_per_request"] > pre_llm.memory_bytes["kv_cache_per_request"]


def test_in_llm_first_layers_see_every_token(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    fastv = compressors["fastv"]
    assert fastv.kind == "in-llm" and fastv.prune_layer == 2
    b = breakdown(llava7b, fastv, 64, Workload(text_tokens=50))
    d, I = 4096, 11008

    def layer(t: int) -> int:
        return 2 * t * (2 * d * d + 2 * d * d) + 4 * t * t * d + 6 * t * d * I

    assert b.flops["llm_blocks"] == 2 * layer(50 + 576) + 30 * layer(50 + 64)
    assert b.flops["compressor"] == 2 * 576 * d


def test_in_llm_without_prune_layer_charges_every_layer(llava7b: ModelSpec,
                                                        compressors: dict[str, CompressorSpec]) -> None:
    voco = compressors["voco-llama"]
    assert voco.kind == "in-llm" and voco.prune_layer is None
    full = breakdown(llava7b, compressors["none"], 576, Workload())
    b = breakdown(llava7b, voco, 8, Workload())
    assert b.flops["llm_blocks"] == full.flops["llm_blocks"]


def test_decode_grows_with_output_tokens_and_context(llava7b: ModelSpec,
                                                     compressors: dict[str, CompressorSpec]) -> None:
    none = compressors["none"]
    by_steps = [one(llava7b, none, 144, Workload(output_tokens=n)).decode_flops[0] for n in (0, 1, 10, 100, 1000)]
    assert by_steps[0] == 0 and np.all(np.diff(by_steps) > 0)
    # more context per step: more visual tokens, more text, or in-LLM tokens kept in the first layers
    short = breakdown(llava7b, none, 16, Workload(output_tokens=50))
    long = breakdown(llava7b, none, 576, Workload(output_tokens=50))
    longer_text = breakdown(llava7b, none, 16, Workload(text_tokens=500, output_tokens=50))
    assert long.decode_flops > short.decode_flops and longer_text.decode_flops > short.decode_flops
    assert long.decode_step_flops > short.decode_step_flops
    # each step attends over one more position: the per-step increase is 4·d·L
    two = breakdown(llava7b, none, 16, Workload(output_tokens=2))
    assert two.decode_flops - 2 * two.decode_step_flops == 4 * 4096 * 32


def test_quecc_pays_for_its_llm_pass_over_the_query(llava7b: ModelSpec,
                                                    compressors: dict[str, CompressorSpec]) -> None:
    b50 = breakdown(llava7b, compressors["quecc"], 4, Workload(text_tokens=50))
    b0 = breakdown(llava7b, compressors["quecc"], 4, Workload(text_tokens=0))
    n_llm = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 32064 * 4096  # blocks + lm_head
    assert b50.flops["compressor"] - b0.flops["compressor"] == 2 * n_llm * 50
    tp = breakdown(llava7b, compressors["tokenpacker"], 4, Workload(text_tokens=50))
    assert tp.flops["compressor"] == 2 * (2 * 576 * 1024 * 1024) + 4 * 4 * 576 * 1024


def test_tokenpacker_projector_is_charged_once(models: dict[str, ModelSpec],
                                               compressors: dict[str, CompressorSpec]) -> None:
    model = models["paper-2411.03312/llava-next-qwen1.5-7b"]
    d, hv = 4096, 1024
    packer = 2 * (2 * 576 * hv * hv) + 4 * 16 * 576 * hv
    b = breakdown(model, compressors["tokenpacker"], 16, Workload())
    assert b.flops["compressor"] == packer
    assert b.flops["projector"] == 2 * 16 * (hv * d + d * d)
    # another compressor on a TokenPacker model: the packer still runs in the projector
    fastv = breakdown(model, compressors["fastv"], 16, Workload())
    assert fastv.flops["compressor"] == packer + 2 * 576 * d


def test_dtype_changes_bytes_not_flops(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                       hardware: dict[str, Hardware]) -> None:
    w = Workload(output_tokens=10)
    bf16 = breakdown(llava7b, compressors["none"], 576, w, hardware=hardware["a100-80gb"])
    fp32 = breakdown(llava7b, compressors["none"], 576, w, dtype="float32", hardware=hardware["a100-80gb"])
    int8 = breakdown(llava7b, compressors["none"], 576, w, dtype="int8", hardware=hardware["a100-80gb"])
    assert bf16.total_flops == fp32.total_flops == int8.total_flops
    assert fp32.memory_bytes["weights"] == 2 * bf16.memory_bytes["weights"] == 4 * int8.memory_bytes["weights"]
    assert int8.memory_bytes["kv_cache_per_request"] == bf16.memory_bytes["kv_cache_per_request"]
    assert fp32.dtype == "fp32"
    assert fp32.latency_s is not None and bf16.latency_s is not None
    assert fp32.latency_s["total"] > bf16.latency_s["total"]


def test_efficiency_scales_latency(llava7b: ModelSpec, compressors: dict[str, CompressorSpec],
                                   hardware: dict[str, Hardware]) -> None:
    w = Workload(output_tokens=0)
    base = one(llava7b, compressors["none"], 576, w, hardware=hardware["h100-sxm"])
    half = one(llava7b, compressors["none"], 576, w, hardware=hardware["h100-sxm"],
               efficiency=Efficiency(compute=0.25, bandwidth=0.8))
    assert half.prefill_s[0] == pytest.approx(2 * base.prefill_s[0])  # compute-bound prefill


def test_memory_scales_with_batch(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    b1 = breakdown(llava7b, compressors["none"], 144, Workload(batch_size=1, output_tokens=100))
    b8 = breakdown(llava7b, compressors["none"], 144, Workload(batch_size=8, output_tokens=100))
    assert b8.memory_bytes["weights"] == b1.memory_bytes["weights"]
    assert b8.memory_bytes["kv_cache_batch"] == 8 * b1.memory_bytes["kv_cache_batch"]
    assert b8.memory_bytes["kv_cache_per_request"] == b1.memory_bytes["kv_cache_per_request"]
    assert b8.total_flops == b1.total_flops  # FLOPs are per request


def test_notes_say_what_was_assumed(models: dict[str, ModelSpec], compressors: dict[str, CompressorSpec],
                                    hardware: dict[str, Hardware]) -> None:
    b = breakdown(models["Qwen/Qwen2.5-VL-7B-Instruct"], compressors["fastv"], 64,
                  Workload(output_tokens=4), hardware=hardware["h100-sxm"])
    text = "\n".join(b.notes)
    for expected in ("window attention", "K = 2", "lm_head", "roofline on h100-sxm", "estimate"):
        assert expected in text
    paper = breakdown(models["Qwen/Qwen2.5-VL-7B-Instruct"], compressors["none"], 64, Workload(),
                      accounting="paper")
    assert any("not counted" in n for n in paper.notes)
    unknown = CompressorSpec(name="mystery", display_name="Mystery", kind="pre-llm", training="training-free")
    b = breakdown(models["Qwen/Qwen2.5-VL-7B-Instruct"], unknown, 64, Workload())
    assert b.flops["compressor"] == 0.0
    assert any("no cost formula" in n for n in b.notes)


def test_every_shipped_compressor_has_a_cost_formula(shipped: ShippedCatalog) -> None:
    from vlmplanner.cost.compressors import FORMULAS

    missing = [c.name for c in shipped.compressors if c.name not in FORMULAS]
    assert not missing, f"add an entry to vlmplanner/cost/compressors.py FORMULAS for {missing}"
