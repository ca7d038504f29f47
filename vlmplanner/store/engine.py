"""Turning a catalog URL into a SQLAlchemy engine that behaves the same on SQLite and PostgreSQL.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writes, so concurrent writers queue
instead of failing with "database is locked"; PostgreSQL gets a connect timeout and pre-ping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from vlmplanner.errors import CatalogConnectionError, CatalogLocationError

from .dberrors import translate
from .stamp import may_create, sqlite_path

__all__ = ["WRITE", "check_connection", "make_engine", "mask_url"]

#: Execution option that makes a SQLite transaction take the write lock at BEGIN.
WRITE = "vlmplanner_write"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, safe to show in errors and logs."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":  # no password; show the path as written, not %-encoded
            from urllib.parse import unquote

            return unquote(parsed.render_as_string())
        return parsed.render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show nothing after the scheme's credentials
        text = str(url)
        if "@" in text and "://" in text:
            scheme, rest = text.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return text


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogConnectionError(
            f"cannot parse catalog URL {mask_url(url)!r}: expected e.g. sqlite:///path/catalog.db"
            " or postgresql+psycopg://user@host/db",
            field="catalog",
            value=mask_url(url),
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url``; nothing is connected yet."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        path = sqlite_path(parsed)
        in_memory = path is None
        if path is None:
            kwargs["poolclass"] = StaticPool
        else:
            _prepare_location(path, create=may_create(parsed))
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = create_engine(parsed, **kwargs)
    except ImportError as exc:
        raise CatalogConnectionError(
            f"the database driver for {mask_url(parsed)!r} is not installed ({exc.name});"
            " for PostgreSQL: pip install 'vlmplanner[postgres]'",
            field="catalog",
            value=mask_url(parsed),
        ) from exc
    except ArgumentError as exc:
        raise CatalogConnectionError(
            f"unsupported catalog URL {mask_url(parsed)!r}: {exc}", field="catalog", value=mask_url(parsed)
        ) from exc
    if backend == "sqlite":
        _configure_sqlite(engine, in_memory)
    return engine


def _prepare_location(path: Path, *, create: bool) -> None:
    """The folder a SQLite catalog lives in must exist (created here when the URL may create it)."""
    from vlmplanner.settings import DATA_DIR_ENV

    if path.is_dir():
        raise CatalogLocationError(f"the catalog path {path} is a folder, not a database file; point --catalog"
                                   " (or VLMPLANNER_CATALOG_URL) at a file inside it, e.g."
                                   f" sqlite:///{path / 'catalog.sqlite3'}", field="catalog", value=str(path))
    if not create or path.parent.is_dir():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocked = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
        why = (f"{blocked} is a file, not a folder" if blocked is not None and not blocked.is_dir()
               else exc.strerror or str(exc))
        raise CatalogLocationError(
            f"cannot create the folder {path.parent} for the catalog: {why}; set {DATA_DIR_ENV} to a folder you"
            " can write, or pass --catalog with another URL", field="catalog", value=str(path.parent)) from None


def _configure_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            try:  # a no-op on a catalog already in WAL mode; a read-only one keeps its mode
                if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
            except Exception as exc:
                if "readonly" not in str(exc).lower() and "read-only" not in str(exc).lower():
                    raise
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the lock up front; a reader never blocks a writer in WAL mode.
        if connection.get_execution_options().get(WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def check_connection(engine: Engine) -> None:
    """Connect once, so an unreachable database fails here with the URL (password masked)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        error = translate(exc, engine.url, doing="opening the catalog", masked=mask_url(engine.url))
        if type(error) is CatalogConnectionError:
            error = CatalogConnectionError(f"cannot reach the catalog at {mask_url(engine.url)}: {exc.orig}"
                                           .splitlines()[0], field="catalog", value=mask_url(engine.url))
        raise error from None
