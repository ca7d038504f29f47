"""The paper's shipped scaling grids as (n, v, score) lists, and their fits (once per session)."""

from __future__ import annotations

import pytest

from vlmplanner.testing.paper_grid import paper_grid

Grid = tuple[list[float], list[float], list[float]]


def load_grid(task: str) -> Grid:
    return paper_grid(task)  # type: ignore[arg-type]


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
