"""The catalog store: SQLAlchemy tables, alembic migrations, seeding from the shipped data.

Importing the package is light: ``Catalog`` and ``open_catalog`` (and SQLAlchemy with them) load on
first use, so modules that only read URLs (``vlmplanner.store.urls``) stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalog import Catalog, SeedReport, open_catalog

__all__ = ["Catalog", "SeedReport", "open_catalog"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'vlmplanner.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(".catalog", __name__), name)
    globals()[name] = value
    return value
