"""How long `vlmplanner --help` and `import vlmplanner` take, in fresh processes.

Usage: python bench/bench_cli_startup.py [--runs 15]
Prints the median and spread of each; record them in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("vlmplanner") or sys.exit("vlmplanner is not installed in this environment")
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "python -c 'import vlmplanner'": [sys.executable, "-c", "import vlmplanner"],
        "vlmplanner --help": [script, "--help"],
        "vlmplanner catalog --help": [script, "catalog", "--help"],
    }
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'max s':>7}  (n={args.runs})")
    for name, command in cases.items():
        times = timed(command, args.runs)
        print(f"{name:<34} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}")


if __name__ == "__main__":
    main()
