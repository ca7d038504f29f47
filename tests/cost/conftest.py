"""Shipped specs for the cost-model tests, read from catalog/ (no database)."""

from __future__ import annotations

import pytest

from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec
from vlmplanner.store.shipped import ShippedCatalog, load_shipped


@pytest.fixture(scope="session")
def shipped() -> ShippedCatalog:
    return load_shipped()


@pytest.fixture(scope="session")
def models(shipped: ShippedCatalog) -> dict[str, ModelSpec]:
    return {m.checkpoint: m for m in shipped.models}


@pytest.fixture(scope="session")
def compressors(shipped: ShippedCatalog) -> dict[str, CompressorSpec]:
    return {c.name: c for c in shipped.compressors}


@pytest.fixture(scope="session")
def hardware(shipped: ShippedCatalog) -> dict[str, Hardware]:
    return {h.name: h for h in shipped.hardware}


@pytest.fixture(scope="session")
def llava7b(models: dict[str, ModelSpec]) -> ModelSpec:
    return models["llava-hf/llava-1.5-7b-hf"]
