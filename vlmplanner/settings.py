"""Where configuration comes from: explicit argument, then ``VLMPLANNER_*`` variables, then defaults.

Every environment variable vlmplanner reads is declared here, and nothing is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CATALOG_URL_ENV",
    "DATA_DIR_ENV",
    "DEBUG_ENV",
    "VERBOSE_ENV",
    "default_catalog_url",
    "flag",
    "resolve_catalog_url",
    "verbose",
]

#: A SQLAlchemy URL of the catalog to use instead of the default SQLite file.
CATALOG_URL_ENV = "VLMPLANNER_CATALOG_URL"
#: A folder for the default SQLite catalog instead of the user's data directory.
DATA_DIR_ENV = "VLMPLANNER_DATA_DIR"
#: "1" shows what libraries print while loading models (transformers warnings, progress bars);
#: ``vlmplanner --verbose`` sets it. Unset, loading is quiet.
VERBOSE_ENV = "VLMPLANNER_VERBOSE"
#: "1" makes the CLI show the traceback of an error, as ``vlmplanner --debug`` does.
DEBUG_ENV = "VLMPLANNER_DEBUG"


def flag(name: str) -> bool:
    """An on/off environment variable: 1, true, yes or on (any case) is on."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def verbose() -> bool:
    """Whether the user asked to see library warnings and progress bars."""
    return flag(VERBOSE_ENV)


def data_dir() -> Path:
    """The folder that holds the default catalog file (not created here)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("vlmplanner", appauthor=False))


def default_catalog_url() -> str:
    """A SQLite file in the user's data directory."""
    return f"sqlite:///{data_dir() / 'catalog.sqlite3'}"


def resolve_catalog_url(url: str | None = None) -> str:
    """An explicit URL wins, then ``VLMPLANNER_CATALOG_URL``, then the default file."""
    if url:
        return url
    return os.environ.get(CATALOG_URL_ENV) or default_catalog_url()
