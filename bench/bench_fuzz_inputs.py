"""Property-based fuzz of every input surface, 10,000+ cases: zero tracebacks, zero non-VlmPlannerError
exceptions, and the catalog file byte-identical after every rejected write.

Usage: python bench/bench_fuzz_inputs.py [--scale 1.0]

The surfaces and the property are in vlmplanner/testing/fuzz.py (the unit suite runs a few hundred of
the same cases). Prints a table of cases, how many were rejected (a VlmPlannerError or a usage
error), and problems; exits 1 if there is any problem. Record the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

from vlmplanner.testing.fuzz import FuzzWorld, Tally, run_target

CASES = {"cli": 2500, "Budget": 3000, "Workload": 3000, "Planner()": 300, "recommend()": 1500,
         "add_result()": 1500, "import_results_csv()": 600}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every target's case count")
    args = parser.parse_args()
    tally = Tally()
    seconds: dict[str, float] = {}
    with FuzzWorld() as world:
        for target, cases in CASES.items():
            started = time.perf_counter()
            run_target(world, target, max(1, int(cases * args.scale)), tally, raise_on_problem=False)
            seconds[target] = time.perf_counter() - started
    print(f"{'target':<22} {'cases':>7} {'rejected':>9} {'problems':>9} {'seconds':>8}")
    for target in CASES:
        problems = sum(1 for name, _, _ in tally.problems if name == target)
        print(f"{target:<22} {tally.cases[target]:>7} {tally.rejected[target]:>9} {problems:>9}"
              f" {seconds[target]:>8.1f}")
    total = sum(tally.cases.values())
    print(f"{'total':<22} {total:>7} {sum(tally.rejected.values()):>9} {len(tally.problems):>9}"
          f" {sum(seconds.values()):>8.1f}")
    for target, case, problem in tally.problems[:20]:
        print(f"PROBLEM {target}: {problem}\n    input: {case}")
    return 1 if tally.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
