"""Fixtures for the profiling tests: tiny bundles, a "small" LLaVA for timing, catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need
from profiling_helpers import small_llava


@pytest.fixture(scope="session")
def tiny() -> dict[str, Any]:
    """One tiny random model per family, built on first use (tests that change them copy them)."""
    need(*TORCH_STACK)
    from vlmplanner.families import get_family

    class Cache(dict):  # type: ignore[type-arg]
        def __missing__(self, model_type: str) -> Any:
            self[model_type] = get_family(model_type).build_tiny()
            return self[model_type]

    return Cache()


@pytest.fixture(scope="module")
def small() -> Any:
    need(*TORCH_STACK)
    return small_llava()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """A fresh, seeded SQLite catalog."""
    from vlmplanner.store import open_catalog

    catalog = open_catalog(f"sqlite:///{tmp_path / 'profile.sqlite3'}")
    yield catalog
    catalog.close()
