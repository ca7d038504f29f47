"""How long the analytic cost model takes to cost a sweep of candidates.

Usage: python bench/bench_cost_model.py [--runs 15]
Builds M models (the shipped ones, repeated under new names) x C compressors x K token counts and
times ``vlmplanner.cost.evaluate`` on them, with and without a hardware profile, under both
accountings; and one ``breakdown`` call. Prints a table; record it in docs/cost-model.md.
The target: 100,000 candidates with output_tokens=256 in <= 30 ms on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from vlmplanner.cost import breakdown, evaluate
from vlmplanner.schemas import Workload
from vlmplanner.store.shipped import load_shipped


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm caches (vision profiles, imports)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    shipped = load_shipped()
    h100 = next(h for h in shipped.hardware if h.name == "h100-sxm")
    workload = Workload(text_tokens=50, output_tokens=256)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()},"
          f" output_tokens={workload.output_tokens}, runs={args.runs}")
    print(f"{'candidates':>10} {'models':>6} {'comp.':>5} {'tokens':>6} {'hardware':>8} {'accounting':>10}"
          f" {'median ms':>9} {'min ms':>7} {'max ms':>7} {'ns/cand.':>8}")
    for n_models, n_comp, n_tokens in ((50, 10, 2), (50, 10, 20), (500, 10, 20), (500, 20, 50)):
        models = [shipped.models[i % len(shipped.models)].model_copy(update={"checkpoint": f"bench/m{i}"})
                  for i in range(n_models)]
        comps = shipped.compressors[:n_comp]
        tokens = np.unique(np.linspace(1, 256, n_tokens).astype(int))  # <= every shipped model's native count
        grid = np.meshgrid(np.arange(n_models), np.arange(n_comp), np.arange(tokens.shape[0]), indexing="ij")
        mi, ci, vi = (a.ravel() for a in grid)
        v = tokens[vi]
        for hardware in (None, h100):
            for accounting in ("full", "paper"):
                times = timed(lambda: evaluate(models, mi, comps, ci, v, workload,  # noqa: B023 - timed now
                                               hardware=hardware, accounting=accounting),  # noqa: B023
                              args.runs)
                median = statistics.median(times)
                print(f"{mi.shape[0]:>10,} {n_models:>6} {n_comp:>5} {tokens.shape[0]:>6}"
                      f" {hardware.name if hardware else '-':>8} {accounting:>10} {median * 1e3:>9.2f}"
                      f" {min(times) * 1e3:>7.2f} {max(times) * 1e3:>7.2f} {median / mi.shape[0] * 1e9:>8.0f}")
    # Cold: fresh model objects every call, so no per-model row is cached (vision profiles still are).
    comps = shipped.compressors[:10]
    tokens = np.unique(np.linspace(1, 256, 20).astype(int))
    mi, ci, vi = (a.ravel() for a in np.meshgrid(np.arange(500), np.arange(10), np.arange(20), indexing="ij"))
    cold = []
    for run in range(args.runs):
        fresh = [shipped.models[i % len(shipped.models)].model_copy(update={"checkpoint": f"cold{run}/m{i}"})
                 for i in range(500)]
        start = time.perf_counter()
        evaluate(fresh, mi, comps, ci, tokens[vi], workload, hardware=h100)
        cold.append(time.perf_counter() - start)
    print(f"{mi.shape[0]:>10,} {500:>6} {10:>5} {20:>6} {'h100-sxm':>8} {'full, cold':>10}"
          f" {statistics.median(cold) * 1e3:>9.2f} {min(cold) * 1e3:>7.2f} {max(cold) * 1e3:>7.2f}"
          f" {statistics.median(cold) / mi.shape[0] * 1e9:>8.0f}")
    model = shipped.models[0]
    compressor = next(c for c in shipped.compressors if c.name == "fastv")
    times = timed(lambda: breakdown(model, compressor, 64, workload, hardware=h100), args.runs)
    print(f"breakdown() of one candidate: median {statistics.median(times) * 1e3:.2f} ms,"
          f" min {min(times) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
