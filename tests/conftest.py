"""Shared fixtures: a clean environment, catalog URLs for every supported backend, and a tiny saved model.

Store tests take the ``catalog_url`` fixture and run once on SQLite and once on PostgreSQL; the
PostgreSQL run needs VLMPLANNER_TEST_POSTGRES_URL and skips, with that reason, without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

POSTGRES_ENV = "VLMPLANNER_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's catalog, or a hub, through the environment."""
    for name in list(os.environ):
        if name.startswith("VLMPLANNER_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("VLMPLANNER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = postgres_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    from sqlalchemy import create_engine

    if base.startswith("postgresql://"):
        base = "postgresql+psycopg://" + base[len("postgresql://"):]
    schema = f"vlmp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty catalog on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[object]:
    """An opened, seeded catalog on each backend."""
    from vlmplanner.store import open_catalog

    store = open_catalog(catalog_url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny random-weight Qwen2-VL (2 LLM layers) saved to disk and registered as ``tiny/qwen`` in
    a catalog of its own: ``directory``, ``url``, ``spec`` and ``key`` (its uncompressed key)."""
    from _extras import TORCH_STACK, need

    need(*TORCH_STACK)
    from vlmplanner.families import get_family
    from vlmplanner.register import register_model
    from vlmplanner.store import open_catalog

    root = tmp_path_factory.mktemp("tiny-qwen")
    bundle = get_family("qwen2_vl").build_tiny(seed=0, text_config={"num_hidden_layers": 2})
    bundle.model.save_pretrained(root / "model")
    bundle.processor.save_pretrained(root / "model")
    url = f"sqlite:///{root / 'catalog.sqlite3'}"
    with open_catalog(url) as catalog:
        spec = register_model(root / "model", catalog=catalog, checkpoint="tiny/qwen")
    return {"root": root, "url": url, "spec": spec, "directory": root / "model",
            "key": f"tiny/qwen+none@{spec.native_visual_tokens}"}
