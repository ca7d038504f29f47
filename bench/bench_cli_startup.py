"""How long the CLI takes as a user meets it: `--help`, a first `recommend` (the README's main job) on a fresh data directory,
and a warm `recommend` after it, in fresh processes, as ratios measured in the same run.

Usage: python bench/bench_cli_startup.py [--runs 9]

Each round runs the three commands in turn (help, first on a new empty data directory, warm on a
directory a first run already filled), so machine drift hits all three alike; the ratios are of the
medians. Targets (issue 9): first <= 2 x warm, warm <= 2 x help. Also times `import vlmplanner`.
The children run without PYTHONDONTWRITEBYTECODE, as Python runs on a user's machine: imports read
cached bytecode (written by the untimed first runs) instead of compiling every module each time.
Record the table in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECOMMEND = ["recommend", "--task", "visual-reasoning", "--budget-gflops", "3000", "--text-tokens", "50"]
TARGETS = {("first recommend", "warm recommend"): 2.0, ("warm recommend", "vlmplanner --help"): 2.0}


def _time(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    script = shutil.which("vlmplanner") or sys.exit("vlmplanner is not installed in this environment")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("VLMPLANNER_") and k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {"python -c pass": [], "import vlmplanner": [], "vlmplanner --help": [],
                                     "first recommend": [], "warm recommend": []}
    with tempfile.TemporaryDirectory() as root:
        warm_env = base | {"VLMPLANNER_DATA_DIR": str(Path(root) / "warm")}
        subprocess.run([script, *RECOMMEND], check=True, capture_output=True, env=warm_env)  # fill it once
        subprocess.run([script, "--help"], check=True, capture_output=True, env=base)  # warm the file cache
        for run in range(args.runs):
            fresh_env = base | {"VLMPLANNER_DATA_DIR": str(Path(root) / f"fresh-{run}")}
            times["python -c pass"].append(_time([sys.executable, "-c", "pass"], base))
            times["import vlmplanner"].append(_time([sys.executable, "-c", "import vlmplanner"], base))
            times["vlmplanner --help"].append(_time([script, "--help"], base))
            times["first recommend"].append(_time([script, *RECOMMEND], fresh_env))
            times["warm recommend"].append(_time([script, *RECOMMEND], warm_env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'max s':>7}  (n={args.runs}, interleaved)")
    for name, values in times.items():
        print(f"{name:<22} {medians[name]:>9.3f} {min(values):>7.3f} {max(values):>7.3f}")
    print()
    print(f"{'ratio':<40} {'value':>6} {'target':>7}")
    ok = True
    for (top, bottom), target in TARGETS.items():
        ratio = medians[top] / medians[bottom]
        ok &= ratio <= target
        print(f"{top + ' / ' + bottom:<40} {ratio:>6.2f} {'<= ' + format(target, 'g'):>7}"
              f"  {'ok' if ratio <= target else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
