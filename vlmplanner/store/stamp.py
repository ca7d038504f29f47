"""What can be known about a catalog without SQLAlchemy: the file a SQLite URL names, and the data
version every write stamps (``catalog_meta.data_version``), read with the standard library.

The planner's cache (vlmplanner.planner.cache) keys on these, so a warm ``recommend`` never imports
SQLAlchemy; everything else goes through :class:`~vlmplanner.store.Catalog`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

__all__ = ["DATA_VERSION_KEY", "data_version", "may_create", "not_created_yet", "sqlite_path"]

#: The catalog_meta key a new value is written to in every write transaction.
DATA_VERSION_KEY = "data_version"


def sqlite_path(url: str | Any) -> Path | None:
    """The file behind a SQLite URL (``sqlite:///x.db``, ``sqlite:////abs/x.db``,
    ``sqlite:///file:x.db?mode=ro&uri=true``); None for in-memory databases and other backends.
    ``url`` is text or a SQLAlchemy URL."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    scheme, separator, rest = text.partition("://")
    if not separator or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    rest, _, query = rest.partition("?")
    params = parse_qs(query)
    database = unquote(rest[1:] if rest.startswith("/") else rest)
    if database.startswith("file:"):
        database = database[len("file:"):]
        if database.startswith("//"):  # file:///abs/path: an empty host
            database = "/" + database[2:].lstrip("/")
    if not database or database.startswith(":memory:") or params.get("mode") == ["memory"]:
        return None
    return Path(database).expanduser()


def may_create(url: str | Any) -> bool:
    """Whether opening a SQLite ``url`` may create its file: not when it is opened read-only
    (``mode=ro``), for reading and writing only (``mode=rw``) or as immutable."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    params = parse_qs(text.partition("?")[2])
    return params.get("mode", [""])[0] not in ("ro", "rw") and params.get("immutable", [""])[0] != "1"


def not_created_yet(url: str) -> bool:
    """A SQLite catalog whose file does not exist yet and would be created (and seeded with the
    shipped data) when opened: until then, reading it means reading the shipped data."""
    try:
        path = sqlite_path(url)
    except Exception:
        return False
    if path is None or path.exists() or not may_create(url):
        return False
    nearest = next((p for p in path.parents if p.exists()), None)
    return nearest is not None and nearest.is_dir()  # a file in the way is reported when it is opened


def data_version(url: str) -> str | None:
    """``"<schema revision>:<data version>"`` of a SQLite catalog file, read read-only; None when the
    URL is not a SQLite file or the file holds no stamp (nothing to key a cache on)."""
    try:
        path = sqlite_path(url)
    except Exception:  # an unparsable URL: the store reports it when it opens
        return None
    if path is None or not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        row = connection.execute("SELECT value FROM catalog_meta WHERE key = ?", (DATA_VERSION_KEY,)).fetchone()
    except (sqlite3.Error, TypeError):
        return None
    finally:
        connection.close()
    return None if row is None else f"{revision}:{row[0]}"
