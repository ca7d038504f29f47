"""The paper's shipped scaling grids as (n, v, score) lists, and their fits (once per session)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

CATALOG = Path(__file__).resolve().parents[2] / "catalog"

Grid = tuple[list[float], list[float], list[float]]


def llm_sizes() -> dict[str, float]:
    """checkpoint -> LLM parameters in billions, from catalog/models.csv."""
    with (CATALOG / "models.csv").open(newline="") as handle:
        return {row["checkpoint"]: float(row["llm_params_b"]) for row in csv.DictReader(handle)}


def load_grid(task: str) -> Grid:
    """catalog/results/paper_scaling_grid_<task>.csv; N from models.csv, else from 'Qwen1.5-7B'."""
    sizes = llm_sizes()
    n: list[float] = []
    v: list[float] = []
    score: list[float] = []
    with (CATALOG / "results" / f"paper_scaling_grid_{task}.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            size = sizes.get(row["model"])
            if size is None:
                match = re.search(r"-([\d.]+)B$", row["model_label"])
                assert match, f"cannot tell the LLM size of {row['model_label']!r}"
                size = float(match.group(1))
            n.append(size)
            v.append(float(row["visual_tokens"]))
            score.append(float(row["score"]))
    return n, v, score


@pytest.fixture(scope="session")
def reasoning_grid() -> Grid:
    return load_grid("reasoning")


@pytest.fixture(scope="session")
def ocr_grid() -> Grid:
    return load_grid("ocr")


@pytest.fixture(scope="session")
def reasoning_fit(reasoning_grid: Grid):  # type: ignore[no-untyped-def]
    from vlmplanner.scaling import fit_scaling_law

    return fit_scaling_law(*reasoning_grid, bootstrap=200, seed=0, label="visual reasoning")


@pytest.fixture(scope="session")
def ocr_fit(ocr_grid: Grid):  # type: ignore[no-untyped-def]
    from vlmplanner.scaling import fit_scaling_law

    return fit_scaling_law(*ocr_grid, bootstrap=200, seed=0, label="ocr")
