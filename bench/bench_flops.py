"""What counting a full-size model's FLOPs costs: FakeTensor tracing vs fvcore on real weights.

Usage: python bench/bench_flops.py [--runs 3] [--fvcore-7b] [--only Gemma-3-27B ...]

Each count runs in a fresh subprocess (``--child``); ``process s`` is that process's wall time from
spawn to exit, the figure held to the budget. The child exits as the ``vlmplanner`` CLI does, with
the heap frozen (``gc.freeze()``) so the interpreter skips a final collection over every torch and
transformers object (0.9 s of a plain exit on this machine). The child reports its time split into the
imports, building the target (config, family, the FakeTensor model) and the traced count (prefill
plus one decode step, ``count_flops(method="traced")``), and its peak RSS (VmHWM). The targets are
LLaVA-1.5-7B (its shipped config.json), Qwen2-VL-72B (no config.json ships: built from the
catalog's ModelSpec numbers with ``config_from_spec``) and the largest shipped Qwen3-VL (dense 32B),
Qwen3-VL-MoE (235B-A22B: 128 experts in each of 94 layers) and Gemma 3 (27B) checkpoints, and
LLaVA-OneVision-7B, Qwen3.5-9B and Qwen3.5-35B-A3B, whose config.json files do not ship: layout files under
bench/layouts/ (the released numbers, not verbatim copies). The budget per count is 10 s and 2 GiB. ``--only LABEL``
(repeatable) runs some targets.

fvcore needs the weights materialized. ``--fvcore-7b`` builds LLaVA-1.5-7B with random bf16
weights and counts it with fvcore once (about 2.5 minutes and 15.5 GB of RAM: only where that much
is free); without it the figures measured in shared/reference/profiling.md are printed, labelled.
Record the table in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {
    "LLaVA-1.5-7B": "llava-hf/llava-1.5-7b-hf",
    "Qwen2-VL-72B": "Qwen/Qwen2-VL-72B-Instruct",
    # the largest shipped checkpoint of each newer family (their shipped config.json)
    "Qwen3-VL-32B": "Qwen/Qwen3-VL-32B-Instruct",
    "Qwen3-VL-235B-A22B": "Qwen/Qwen3-VL-235B-A22B-Instruct",
    "Gemma-3-27B": "google/gemma-3-27b-it",
    # no config.json ships: the released layout, for timing (bench/layouts/)
    "LLaVA-OV-7B": "layout:llava-onevision-qwen2-7b-ov-hf",
    "Qwen3.5-9B": "layout:qwen3.5-9b",
    "Qwen3.5-35B-A3B": "layout:qwen3.5-35b-a3b",
}
LAYOUTS = Path(__file__).parent / "layouts"
BUDGET_S = 10.0
BUDGET_BYTES = 2 * 2**30
#: fvcore on materialized LLaVA-1.5-7B (bf16, 2 threads), measured with --fvcore-7b (docs/benchmarks.md).
FVCORE_7B_REFERENCE = {"build_s": 115.5, "count_s": 74.4, "peak_rss_bytes": 14.82 * 2**30}


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child(checkpoint: str, start: float) -> dict[str, object]:
    """Runs in the subprocess: import, build, count; all times from the interpreter's start."""
    t0 = time.perf_counter()
    import torch  # noqa: F401  (imported by the first count anyway; timed as an import here)
    import transformers  # noqa: F401

    from vlmplanner.profiling import ProfileTarget, count_flops
    from vlmplanner.profiling.flops import fake_model

    t1 = time.perf_counter()
    if checkpoint.startswith("layout:"):
        name = checkpoint.removeprefix("layout:")
        config = json.loads((LAYOUTS / f"{name}.json").read_text())
        config.pop("_note", None)
        target = ProfileTarget.from_config(config, name=name, source=f"bench/layouts/{name}.json (released layout)")
    else:
        target = ProfileTarget.from_checkpoint(checkpoint)
    fake_model(target)
    t2 = time.perf_counter()
    count = count_flops(target, method="traced")
    t3 = time.perf_counter()
    return {"checkpoint": checkpoint, "config": target.config_source, "import_s": t1 - t0, "build_s": t2 - t1,
            "count_s": t3 - t2, "total_s": t3 - start, "peak_rss_bytes": _peak_rss(),
            "prefill_tflops": count.prefill / 1e12, "decode_step_gflops": count.decode_step / 1e9,
            "visual_tokens": count.visual_tokens, "text_tokens": count.text_tokens,
            "params_b": target.spec.llm.params_b}


def fvcore_child() -> dict[str, object]:
    """Materialize LLaVA-1.5-7B in bf16 with random weights and count it with fvcore."""
    t0 = time.perf_counter()
    import torch
    from transformers import LlavaForConditionalGeneration

    from vlmplanner.profiling import ProfileTarget, count_flops

    target = ProfileTarget.from_checkpoint("llava-hf/llava-1.5-7b-hf")
    torch.set_default_dtype(torch.bfloat16)
    # the shipped config says torch_dtype float16, which transformers applies to the sub-models it
    # builds from sub-configs: cast the whole model so every weight is bf16
    target.model = LlavaForConditionalGeneration(target.config).to(torch.bfloat16).eval()  # type: ignore[arg-type]
    torch.set_default_dtype(torch.float32)
    t1 = time.perf_counter()
    count = count_flops(target, method="fvcore")
    t2 = time.perf_counter()
    return {"build_s": t1 - t0, "count_s": t2 - t1, "peak_rss_bytes": _peak_rss(),
            "prefill_tflops": count.prefill / 1e12, "source": "measured now"}


def run_child(args: list[str]) -> dict[str, object]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per target (median reported)")
    parser.add_argument("--fvcore-7b", action="store_true", help="also materialize LLaVA-1.5-7B for fvcore")
    parser.add_argument("--only", action="append", choices=sorted(TARGETS), help="run this target (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fvcore-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, START)), flush=True)
        gc.freeze()  # exit as the vlmplanner CLI does: no final collection over torch's objects
        return
    if args.fvcore_child:
        print(json.dumps(fvcore_child()), flush=True)
        gc.freeze()
        return

    print(f"{'target':<14} {'method':<28} {'process s':>9} {'import s':>8} {'build s':>7} {'count s':>7}"
          f" {'peak RSS GiB':>12} {'prefill TFLOP':>13} {'decode-step GFLOP':>17}  within 10 s / 2 GiB")
    for label, checkpoint in TARGETS.items():
        if args.only and label not in args.only:
            continue
        runs = [run_child(["--child", checkpoint]) for _ in range(args.runs)]
        med = {k: statistics.median(float(r[k]) for r in runs)  # type: ignore[arg-type]
               for k in ("process_s", "import_s", "build_s", "count_s", "peak_rss_bytes")}
        worst = max(float(r["process_s"]) for r in runs)  # type: ignore[arg-type]
        peak = max(float(r["peak_rss_bytes"]) for r in runs)  # type: ignore[arg-type]
        ok = "yes" if worst <= BUDGET_S and peak <= BUDGET_BYTES else "NO"
        first = runs[0]
        print(f"{label:<14} {'traced (FakeTensor)':<28} {med['process_s']:>9.2f} {med['import_s']:>8.2f}"
              f" {med['build_s']:>7.2f} {med['count_s']:>7.2f} {med['peak_rss_bytes'] / 2**30:>12.2f}"
              f" {float(first['prefill_tflops']):>13.4f} {float(first['decode_step_gflops']):>17.3f}"  # type: ignore[arg-type]
              f"  {ok} (worst {worst:.2f} s, {peak / 2**30:.2f} GiB; {args.runs} runs)")
        print(f"{'':<14} config: {first['config']}; {first['text_tokens']} text + {first['visual_tokens']}"
              " visual tokens")
    if args.fvcore_7b:
        fv = run_child(["--fvcore-child"])
    else:
        fv = {**FVCORE_7B_REFERENCE, "source": "NOT RUN: the figure measured with --fvcore-7b on 2026-11-24, docs/benchmarks.md"}
    print(f"{'LLaVA-1.5-7B':<14} {'fvcore (materialized bf16)':<28} {'':>9} {'':>8}"
          f" {float(fv['build_s']):>7.1f}"  # type: ignore[arg-type]
          f" {float(fv['count_s']):>7.1f} {float(fv['peak_rss_bytes']) / 2**30:>12.2f}"  # type: ignore[arg-type]
          f"  ({fv['source']})")


START = time.perf_counter()

if __name__ == "__main__":
    main()
