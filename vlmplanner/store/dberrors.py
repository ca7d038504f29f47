"""What a database error means for the user: one VlmPlannerError naming the catalog and what to do.

SQLite and PostgreSQL report the same situations in their own words; this is the one place that
reads them. A damaged or unopenable SQLite file is a :class:`CatalogLocationError` naming the file,
a write to a read-only catalog a :class:`CatalogReadOnlyError`, anything else about reaching the
database a :class:`CatalogConnectionError`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL

from vlmplanner.errors import (
    CatalogConnectionError,
    CatalogError,
    CatalogLocationError,
    CatalogReadOnlyError,
    CatalogWriteError,
)

from .stamp import sqlite_path

__all__ = ["is_damage", "sqlite_path", "translate"]

_DAMAGED = ("file is not a database", "database disk image is malformed", "malformed database schema",
            "database corrupt")
_UNOPENABLE = ("unable to open database file",)
_READ_ONLY = ("attempt to write a readonly database", "readonly database")
#: PostgreSQL SQLSTATEs: insufficient_privilege, read_only_sql_transaction
_PG_READ_ONLY = ("42501", "25006")


def is_damage(message: str) -> bool:
    lowered = message.lower()
    return any(text in lowered for text in _DAMAGED)


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def translate(exc: BaseException, url: str | URL, *, doing: str, masked: str, writing: bool = False) -> CatalogError:
    """The CatalogError for a DBAPI/SQLAlchemy error raised while ``doing`` (e.g. "reading the catalog")."""
    reason = _reason(exc)
    lowered = reason.lower()
    orig: Any = getattr(exc, "orig", None)
    path = sqlite_path(url)
    if any(text in lowered for text in _READ_ONLY) or getattr(orig, "sqlstate", None) in _PG_READ_ONLY:
        return CatalogReadOnlyError(
            f"the catalog at {masked} is read-only ({reason}): {doing} needs write access; nothing was written",
            field="catalog", value=masked)
    if path is not None and is_damage(reason):
        return CatalogLocationError(
            f"the catalog file {path} is damaged ({reason}); move it aside (mv '{path}' '{path}.damaged')"
            " and vlmplanner creates and seeds a fresh one on next use, or pass --catalog with another URL",
            field="catalog", value=str(path))
    if path is not None and any(text in lowered for text in _UNOPENABLE):
        where = path if path.exists() else f"{path} (it does not exist)"
        return CatalogLocationError(
            f"cannot open the catalog file {where}: {reason}; check that its folder exists and that you may"
            " read (and, to write, write) it, or pass --catalog with another URL", field="catalog",
            value=str(path))
    if writing:
        return CatalogWriteError(f"{doing} at {masked} failed, nothing was written: {reason}", field="catalog",
                                 value=masked)
    return CatalogConnectionError(f"{doing} at {masked} failed: {reason}", field="catalog", value=masked)
