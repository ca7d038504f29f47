"""Schema versions: create a new catalog at head, refuse an out-of-date one, upgrade on request.

A new catalog is created from the ORM's tables and stamped with the head revision, as alembic's
own stamp would (tests/store/test_schema_versions.py checks it matches running every migration).
Alembic is imported only when an existing schema must change, so first use and opening an
up-to-date catalog stay cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)

from vlmplanner.errors import CatalogError, CatalogNewerError, CatalogOutOfDateError

from .engine import WRITE, mask_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "current_revision", "ensure_schema", "known_revisions", "upgrade"]

#: The schema this release writes; a test checks it equals alembic's head.
HEAD_REVISION = "0006_linear_attention"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x766C6D70  # "vlmp": serialises schema changes between processes on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def known_revisions() -> list[str]:
    """Every revision this release knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None for a database vlmplanner never touched."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalar()


#: alembic's version table, as alembic creates it.
_VERSION = Table(_VERSION_TABLE, MetaData(), Column("version_num", String(32), nullable=False),
                 PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def _create_at_head(connection: Connection) -> None:
    from .orm import Base

    Base.metadata.create_all(connection)
    _VERSION.create(connection)
    connection.execute(_VERSION.insert().values(version_num=HEAD_REVISION))


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _migrate(connection: Connection, target: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), target)


def ensure_schema(engine: Engine, *, create: bool = True) -> bool:
    """Check the schema is at head; create it in an empty database. True if it was created now."""
    from sqlalchemy.exc import DBAPIError

    from .dberrors import translate

    try:
        return _ensure_schema(engine, create=create)
    except DBAPIError as exc:
        raise translate(exc, engine.url, doing="creating the catalog", masked=mask_url(engine.url),
                        writing=True) from exc


def _ensure_schema(engine: Engine, *, create: bool) -> bool:
    with engine.connect() as connection:
        revision = current_revision(connection)
    if revision == HEAD_REVISION:
        return False
    if revision is None:
        if not create:
            raise CatalogError(
                f"{mask_url(engine.url)} holds no vlmplanner catalog", field="catalog", value=mask_url(engine.url)
            )
        with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
            _lock(connection)
            # Another process may have created it while this one waited for the lock.
            revision = current_revision(connection)
            if revision is None:
                tables = set(inspect(connection).get_table_names())
                if tables:
                    raise CatalogError(
                        f"{mask_url(engine.url)} is not empty and is not a vlmplanner catalog"
                        f" (it has tables {sorted(tables)[:5]}); point --catalog at an empty database",
                        field="catalog",
                        value=mask_url(engine.url),
                    )
                _create_at_head(connection)
                return True
        if revision == HEAD_REVISION:
            return False
    _refuse(engine, revision)
    return False


def _refuse(engine: Engine, revision: str | None) -> None:
    where = mask_url(engine.url)
    if revision in known_revisions():
        raise CatalogOutOfDateError(
            f"the catalog at {where} has schema {revision}, this release needs {HEAD_REVISION};"
            f" run: vlmplanner catalog upgrade --catalog '{where}'",
            field="catalog",
            value=where,
        )
    raise CatalogNewerError(
        f"the catalog at {where} has schema {revision}, unknown to this release (made by a newer"
        " vlmplanner?); upgrade vlmplanner: pip install -U vlmplanner",
        field="catalog",
        value=where,
    )


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Migrate the catalog to ``target``; returns (revision before, revision after)."""
    from .engine import check_connection

    check_connection(engine)
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        _lock(connection)
        before = current_revision(connection)
        if before is not None and before not in known_revisions():
            _refuse(engine, before)
        _migrate(connection, target)
        after = current_revision(connection)
    return before, after
