"""recommend() latency: over a synthetic catalog of >= 100,000 candidates, and over the shipped one.

The synthetic catalog has 500 models x 20 compressors x 10 token counts. For each compressor, results
generated from a known scaling law at 5 LLM sizes let the planner fit a law, which then predicts every
other model, so every one of the 100,000 candidates has a quality estimate and is costed. Its
compressors are made up, so vlmplanner cannot run them: it is timed with include="all", which also
checks every candidate's runnability. The shipped catalog is timed with the default, runnable only.

Usage: python bench/bench_recommend.py [--calls 30]
Prints cold (first call: snapshot, fits, candidate table) and warm (median of later calls with
varying budgets) times; record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, CompressorSpec, ResultIn, Workload
from vlmplanner.store import open_catalog

TOKENS = (1, 4, 9, 16, 36, 64, 100, 144, 256, 576)
FIT_SIZES = (0.5, 1.0, 2.0, 4.0, 8.0)


def synthetic_catalog(url: str, n_models: int = 500, n_compressors: int = 20) -> int:
    with open_catalog(url) as catalog:
        base = catalog.model("paper-2411.03312/llava-next-qwen1.5-7b")
        sizes = [round(0.5 + i * (100 - 0.5) / (n_models - 1), 3) for i in range(n_models)]
        for size in FIT_SIZES:
            if size not in sizes:
                sizes[min(range(len(sizes)), key=lambda i: abs(sizes[i] - size))] = size
        for i, size in enumerate(sizes):
            llm = base.llm.model_copy(update={"name": f"synth/SynthLM-{size}B", "params_b": size})
            catalog.add_model(base.model_copy(update={
                "checkpoint": f"synthetic/vlm-{i:03d}-{size}b", "llm": llm, "public_checkpoint": False,
                "display_name": f"synthetic {size}B", "source": "bench_recommend.py (synthetic)"}))
        results = []
        for c in range(n_compressors):
            name = f"synth-c{c:02d}"
            catalog.add_compressor(CompressorSpec(name=name, display_name=name, kind="pre-llm",
                                                  training="training-free", source="synthetic"))
            alpha, beta, a, d = 0.07 + 0.002 * c, 0.015 + 0.001 * c, 0.55, 0.03
            for i, size in enumerate(sizes):
                if size not in FIT_SIZES:
                    continue
                for v in TOKENS:
                    score = 1 - (a * size ** -alpha * v ** -beta + d)
                    results.append(ResultIn(model=f"synthetic/vlm-{i:03d}-{size}b", compressor=name, visual_tokens=v,
                                            benchmark="avg_visual_reasoning", score=round(score, 6),
                                            source="synthetic law", provenance="imported"))
        catalog.add_results(results)
    return n_models * n_compressors * len(TOKENS)


def time_calls(planner: Planner, calls: int, base: float = 500, **kwargs: object) -> tuple[float, float, int]:
    start = time.perf_counter()
    rec = planner.recommend(budget=Budget(gflops=base * 2), **kwargs)  # type: ignore[arg-type]
    cold = time.perf_counter() - start
    warm = []
    for i in range(calls):
        budget = Budget(gflops=base + 0.3 * base * i)
        start = time.perf_counter()
        rec = planner.recommend(budget=budget, **kwargs)  # type: ignore[arg-type]
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm), rec.considered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vlmp-bench-"))
    shipped_url = f"sqlite:///{scratch / 'shipped.sqlite3'}"
    synthetic_url = f"sqlite:///{scratch / 'synthetic.sqlite3'}"
    start = time.perf_counter()
    expected = synthetic_catalog(synthetic_url)
    built = time.perf_counter() - start

    print(f"synthetic catalog: {expected:,} candidates, built in {built:.1f} s")
    print(f"{'catalog':<28} {'candidates':>10} {'cold s':>8} {'warm median ms':>15} {'target ms':>10}")
    workload = Workload(text_tokens=50, output_tokens=0)
    with Planner(shipped_url, hardware="h100-sxm") as planner:
        cold, warm, n = time_calls(planner, args.calls, base=2000, task="visual-reasoning", workload=workload)
        print(f"{'shipped (visual-reasoning)':<28} {n:>10,} {cold:>8.2f} {warm * 1e3:>15.2f} {20:>10}")
        cold, warm, n = time_calls(planner, args.calls, base=5000, task="GQA", workload=workload)
        print(f"{'shipped (GQA)':<28} {n:>10,} {cold:>8.2f} {warm * 1e3:>15.2f} {20:>10}")
    with Planner(synthetic_url, hardware="h100-sxm") as planner:
        cold, warm, n = time_calls(planner, args.calls, base=1500, task="visual-reasoning", workload=workload,
                                   family="llava_next:SynthLM", include="all")
        print(f"{'synthetic (visual-reasoning)':<28} {n:>10,} {cold:>8.2f} {warm * 1e3:>15.2f} {100:>10}")


if __name__ == "__main__":
    main()
