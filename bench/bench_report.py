"""Report generation time: for the shipped catalog and for a 100,000-candidate synthetic one.

The synthetic catalog is bench_recommend.py's (500 models x 20 compressors x 10 token counts, each
candidate with a law-predicted quality). The question is asked on two hardware profiles; each
format is rendered from the same built report. Plots draw a thinned sample (every frontier point up
to 400, one candidate per cell of a 60x30 grid for the rest); JSON and CSV hold every candidate,
which the table's last columns count.

Usage: python bench/bench_report.py [--skip-synthetic]
Record the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_recommend import synthetic_catalog

from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Workload

FORMATS = ("html", "md", "json", "csv")


def timed(work: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def row(label: str, url: str, budget: Budget, **question: Any) -> None:
    with Planner(url, hardware="h100-sxm") as planner:
        planner.recommend(budget=budget, workload=Workload(), **question)  # snapshot, fits and table: not timed
        report, build = timed(lambda: planner.report(budget=budget, hardware=["h100-sxm", "l4"], **question))
    times = {}
    texts = {}
    for name in FORMATS:
        texts[name], times[name] = timed(lambda name=name: report.render(name))
    in_json = len(json.loads(texts["json"])["candidates"])
    in_csv = sum(1 for _ in csv.DictReader(io.StringIO(texts["csv"])))
    size = len(texts["html"].encode()) / 1e6
    print(f"{label:<30} {len(report.candidates):>10,} {build:>8.2f} " + " ".join(f"{times[n]:>7.2f}" for n in FORMATS)
          + f" {size:>8.2f} {in_json:>10,} {in_csv:>10,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vlmp-bench-report-"))
    print(f"{'catalog':<30} {'candidates':>10} {'build s':>8} " + " ".join(f"{n + ' s':>7}" for n in FORMATS)
          + f" {'HTML MB':>8} {'JSON rows':>10} {'CSV rows':>10}")
    row("shipped (visual-reasoning)", f"sqlite:///{scratch / 'shipped.sqlite3'}", Budget(gflops=3000),
        task="visual-reasoning")
    if not args.skip_synthetic:
        url = f"sqlite:///{scratch / 'synthetic.sqlite3'}"
        synthetic_catalog(url)
        row("synthetic (visual-reasoning)", url, Budget(gflops=3000), task="visual-reasoning",
            family="llava_next:SynthLM", include="all")


if __name__ == "__main__":
    main()
