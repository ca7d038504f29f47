"""A seeded catalog file shared by the planner tests of one module (seeding and fitting once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def planner_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('planner') / 'catalog.sqlite3'}"


@pytest.fixture(scope="module")
def planner(planner_url: str) -> Iterator[object]:
    from vlmplanner.planner import Planner

    with Planner(planner_url, hardware="h100-sxm") as p:
        yield p


@pytest.fixture
def fresh_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
