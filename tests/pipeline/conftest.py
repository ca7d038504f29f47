"""Tiny random-weight models of every family, saved to disk and registered in a temporary catalog.

Built once per session: ``saved[family]`` is a directory written by ``save_pretrained`` (model and
processor), registered as ``tiny/<family>`` in the SQLite catalog at ``catalog_file``. Without the
torch extra the fixtures skip, naming it, and the tests that need no model still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _extras import TORCH_STACK, need
from pipeline_helpers import FAMILIES, SavedModel, build


@pytest.fixture(scope="session")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('pipeline-catalog') / 'catalog.sqlite3'}"


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory, catalog_file: str) -> dict[str, SavedModel]:
    """Every family's tiny model saved to disk and registered as ``tiny/<family>``."""
    need(*TORCH_STACK)
    from vlmplanner.register import register_model
    from vlmplanner.store import open_catalog

    out: dict[str, SavedModel] = {}
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    with open_catalog(catalog_file) as catalog:
        for family in FAMILIES:
            tiny = build(family)
            directory = root / family
            tiny.model.save_pretrained(directory)
            tiny.processor.save_pretrained(directory)
            spec = register_model(directory, catalog=catalog, checkpoint=f"tiny/{family}")
            out[family] = SavedModel(family, directory, f"tiny/{family}", tiny, spec)
    return out


@pytest.fixture
def catalog(catalog_file: str, saved: dict[str, SavedModel]) -> Iterator[Any]:
    from vlmplanner.store import open_catalog

    with open_catalog(catalog_file) as store:
        yield store
