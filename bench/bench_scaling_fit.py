"""Fit the scaling law to the paper's shipped grids and time it.

Usage: python bench/bench_scaling_fit.py [--bootstrap 200] [--seed 0]
Prints one row per task (visual reasoning, OCR); record them in docs/scaling-laws.md with the
machine and date. The fit is deterministic, so only the seconds change between runs.
"""

from __future__ import annotations

import argparse
import time

from vlmplanner.scaling import ScalingFit, fit_scaling_law
from vlmplanner.testing.paper_grid import paper_grid

TASKS = {"reasoning": "visual reasoning", "ocr": "OCR / text"}
PAPER = {"reasoning": (0.077, 0.015), "ocr": (0.029, 0.048)}  # OCR values: secondary sources only


def load_grid(task: str) -> tuple[list[float], list[float], list[float]]:
    return paper_grid(task)  # type: ignore[arg-type]


def row(task: str, fit: ScalingFit, seconds: float) -> str:
    loo = "n/a" if fit.loo_mae_points is None else f"{fit.loo_mae_points:.2f}"
    v_star = fit.optimal_visual_tokens(50)
    paper_alpha, paper_beta = PAPER[task]
    return (
        f"| {TASKS[task]} | {fit.alpha:.4f} | {fit.beta:.4f} | {fit.A:.4f} | {fit.D:.4f} "
        f"| {fit.rmse:.4f} | {fit.r2:.4f} | {loo} | {v_star:.1f} | {seconds:.2f} "
        f"| {paper_alpha} / {paper_beta} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    fit_scaling_law(*load_grid("reasoning"), bootstrap=0)  # warm: import scipy outside the timing
    print(
        "| task | alpha | beta | A | D | rmse | r2 | loo_mae_points | V*(Q=50) "
        f"| fit s (bootstrap={args.bootstrap}) | paper alpha / beta |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fits = {}
    for task in TASKS:
        data = load_grid(task)
        start = time.perf_counter()
        fits[task] = fit_scaling_law(*data, bootstrap=args.bootstrap, seed=args.seed, label=task)
        print(row(task, fits[task], time.perf_counter() - start))
    print()
    for task, fit in fits.items():
        low_a, high_a = fit.parameter_interval("alpha")
        low_b, high_b = fit.parameter_interval("beta")
        by_size = ", ".join(f"{size} B: {mae:.2f}" for size, mae in fit.loo_by_size.items())
        print(
            f"{TASKS[task]}: 90% bootstrap alpha [{low_a:.4f}, {high_a:.4f}], "
            f"beta [{low_b:.4f}, {high_b:.4f}]; held-out size MAE (points) {by_size}"
        )
        for note in fit.notes:
            print(f"  note: {note}")


if __name__ == "__main__":
    main()
