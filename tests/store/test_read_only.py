"""Reading is read-only: recommend, frontier, listing and info work on a catalog that cannot be
written (a ``mode=ro`` SQLite URL, a PostgreSQL role with SELECT only), change nothing in it, and a
write there is one CatalogReadOnlyError."""

from __future__ import annotations

import hashlib
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from vlmplanner.errors import CatalogReadOnlyError
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget
from vlmplanner.store import open_catalog
from vlmplanner.store.orm import Base


def _without_fits(url: str) -> None:
    """A seeded catalog that holds no fitted laws: every law must be fitted, in memory, to recommend."""
    open_catalog(url).close()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM scaling_fits"))
    engine.dispose()


def _state(url: str) -> str:
    """A digest of every row of every table, read through a separate connection."""
    engine = create_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select().order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


def _file_bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def read_only(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(read-only URL, read-write URL) of one seeded catalog without stored fits."""
    if request.param == "sqlite":
        path = tmp_path / "catalog.sqlite3"
        _without_fits(f"sqlite:///{path}")
        yield f"sqlite:///file:{path}?mode=ro&uri=true", f"sqlite:///{path}"
        return
    url = str(request.getfixturevalue("postgres_schema_url"))
    _without_fits(url)
    schema = url.rsplit("search_path%3D", 1)[1]
    role = f"vlmp_reader_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        connection.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    reader = make_url(url).set(username=role).render_as_string(hide_password=False)
    try:
        yield reader, url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


def test_recommend_on_a_read_only_catalog_without_fits(read_only: tuple[str, str]) -> None:
    reader, writer = read_only
    before = _state(writer)
    sqlite_file = Path(make_url(writer).database or "") if writer.startswith("sqlite") else None
    file_before = _file_bytes(sqlite_file) if sqlite_file else None
    with Planner(reader, hardware="h100-sxm") as planner, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = planner.recommend(task="visual-reasoning", budget=Budget(gflops=5000),
                                model="paper-2411.03312/llava-next-qwen1.5-14b", compressor="tokenpacker",
                                include="all")  # the paper's grid: a what-if
        assert rec.quality.provenance == "predicted"  # a law was fitted, in memory
        assert planner.snapshot.laws.refitted or planner.snapshot.laws.unsaved
        assert planner.frontier(task="visual-reasoning", include="all")
        assert planner.catalog.scaling_fits() == []
    assert _state(writer) == before
    if sqlite_file is not None:
        assert _file_bytes(sqlite_file) == file_before


def test_the_cli_reads_a_read_only_catalog(read_only: tuple[str, str]) -> None:
    from vlmplanner.cli.app import main

    reader, writer = read_only
    before = _state(writer)
    for args in (["catalog", "models"], ["catalog", "results", "--limit", "3"], ["catalog", "info"],
                 ["catalog", "show", "llava-hf/llava-1.5-7b-hf"], ["fit"],
                 ["recommend", "--task", "GQA", "--budget-gflops", "20000"]):
        assert main([*args, "--catalog", reader]) == 0, args
    assert _state(writer) == before


def test_a_write_to_a_read_only_catalog_is_one_clear_error(read_only: tuple[str, str]) -> None:
    reader, writer = read_only
    before = _state(writer)
    with open_catalog(reader) as catalog:
        with pytest.raises(CatalogReadOnlyError, match="read-only"):
            catalog.add_result(model="llava-hf/llava-1.5-7b-hf", compressor="pool", visual_tokens=144,
                               benchmark="GQA", score=58.0, source="a run")
        with pytest.raises(CatalogReadOnlyError):
            catalog.seed(take_shipped=True)
    with Planner(reader, hardware=None) as planner, pytest.raises(CatalogReadOnlyError):
        planner.snapshot.laws.save(planner.catalog)
    assert _state(writer) == before
