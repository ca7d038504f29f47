"""Catalogs for report tests: the shipped one, and one with hostile names and sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _hostile import EVIL_NAME, EVIL_SOURCE


@pytest.fixture(scope="module")
def shipped_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from vlmplanner.store import open_catalog

    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'catalog.sqlite3'}"
    open_catalog(url).close()  # created and seeded once for the module
    return url


@pytest.fixture(scope="module")
def evil_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shipped catalog plus a model named with a script tag whose GQA result, citing a source
    that closes an attribute and opens an image tag, is the best on GQA: it is the recommendation."""
    from vlmplanner.store import open_catalog

    url = f"sqlite:///{tmp_path_factory.mktemp('report-evil') / 'catalog.sqlite3'}"
    with open_catalog(url) as store:
        spec = store.model("llava-hf/llava-1.5-7b-hf")
        store.add_model(spec.model_copy(update={"checkpoint": EVIL_NAME, "display_name": EVIL_NAME}))
        store.add_result(model=EVIL_NAME, compressor="none", visual_tokens=576, benchmark="GQA", score=99.0,
                         source=EVIL_SOURCE, provenance="published")
    yield url


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path
