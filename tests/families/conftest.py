"""Fixtures for the family-adapter tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Any]:
    """One tiny model per family, built on first use and shared (they are only read)."""
    from vlmplanner.families import get_family

    class Cache(dict):  # type: ignore[type-arg]
        def __missing__(self, model_type: str) -> Any:
            self[model_type] = get_family(model_type).build_tiny()
            return self[model_type]

    return Cache()
