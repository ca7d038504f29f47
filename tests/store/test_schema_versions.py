"""Migrations: the ORM matches the migrated schema, old catalogs upgrade, wrong ones are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from vlmplanner.errors import (
    CatalogConnectionError,
    CatalogError,
    CatalogNewerError,
    CatalogOutOfDateError,
)
from vlmplanner.store import migrate, open_catalog
from vlmplanner.store.engine import make_engine
from vlmplanner.store.orm import Base

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_head_constant_matches_alembic() -> None:
    assert migrate.known_revisions()[-1] == migrate.HEAD_REVISION


def test_orm_matches_migrated_schema(catalog_url: str) -> None:
    """Running every migration on an empty database gives the ORM's tables exactly."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(catalog_url)
    assert migrate.upgrade(engine) == (None, migrate.HEAD_REVISION)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], "the ORM and the migrations disagree; write a migration for the ORM change"


def test_a_new_catalog_is_what_the_migrations_make(catalog_url: str, tmp_path: Path) -> None:
    """open_catalog creates new catalogs from the ORM and stamps head; alembic must see no difference,
    and must be able to take such a catalog further."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    open_catalog(catalog_url, seed=False).close()
    engine = make_engine(catalog_url)
    with engine.connect() as connection:
        assert migrate.current_revision(connection) == migrate.HEAD_REVISION
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == migrate.HEAD_REVISION
        assert compare_metadata(context, Base.metadata) == []
    assert migrate.upgrade(engine) == (migrate.HEAD_REVISION, migrate.HEAD_REVISION)
    engine.dispose()


def test_out_of_date_catalog_names_the_upgrade_command(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_catalog(catalog_url, seed=False).close()
    known = migrate.known_revisions()
    monkeypatch.setattr(migrate, "HEAD_REVISION", "9000_future")
    monkeypatch.setattr(migrate, "known_revisions", lambda: [*known, "9000_future"])
    with pytest.raises(CatalogOutOfDateError, match="vlmplanner catalog upgrade"):
        open_catalog(catalog_url)


def test_catalog_from_a_newer_release_is_refused(catalog_url: str) -> None:
    open_catalog(catalog_url, seed=False).close()
    engine = make_engine(catalog_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(CatalogNewerError, match="newer"):
        open_catalog(catalog_url)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(CatalogError, match="not a vlmplanner catalog"):
        open_catalog(url)


def test_unreachable_database_masks_the_password() -> None:
    with pytest.raises(CatalogConnectionError) as caught:
        open_catalog("postgresql://alice:s3cret@127.0.0.1:1/catalog")
    message = str(caught.value)
    assert "s3cret" not in message and "***" in message and "127.0.0.1:1" in message


def test_unparsable_url_is_a_clear_error() -> None:
    with pytest.raises(CatalogConnectionError, match="cannot parse catalog URL"):
        open_catalog("not a url at all")


def test_release_fixture_upgrades_without_losing_a_row(tmp_path: Path) -> None:
    """Each release's catalog file must open (after `catalog upgrade`) with every row it held."""
    fixtures = sorted(FIXTURES.glob("catalog-*.sqlite3"))
    assert fixtures, "keep at least one catalog file made by a release in tests/fixtures/"
    for fixture in fixtures:
        expected = json.loads(fixture.with_suffix(".json").read_text())
        copy = tmp_path / fixture.name
        shutil.copy(fixture, copy)
        url = f"sqlite:///{copy}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        with open_catalog(url, seed=False) as catalog:
            assert catalog.schema_revision() == migrate.HEAD_REVISION
            counts = catalog.counts()
            for table, count in expected["counts"].items():
                assert counts[table] >= count, f"{fixture.name}: {table} lost rows"
            keys = {(r.model_label, r.compressor_label, r.visual_tokens_label, r.benchmark, r.source, r.score)
                    for r in catalog.results()}
            for row in expected["user_results"]:
                assert tuple(row) in keys, f"{fixture.name}: lost the user's result {row}"
