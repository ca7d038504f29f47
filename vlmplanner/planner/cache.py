"""A planner snapshot kept on disk per SQLite catalog, so a warm ``recommend`` opens no database engine.

Building a snapshot means importing SQLAlchemy and reading every row: several times what the
selection itself costs. The snapshot is saved under the data directory, keyed by the catalog file,
and reused while the catalog's *data version* is the same. Every write through
:class:`~vlmplanner.store.Catalog` stamps a new data version in the same transaction, so any change
made through vlmplanner (by any process) makes the cache miss; it is read with the standard
library's ``sqlite3``, read-only. Anything unexpected (no stamp, another release, an unreadable
file) is a miss, never an error. Only SQLite files are cached; PostgreSQL catalogs are always read.

The cache holds the snapshot as pickle, written with mode 0600 in the user's own data directory:
the same trust as the catalog file beside it. Reading it writes nothing to the catalog; a cache
folder that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from vlmplanner.store.stamp import data_version, sqlite_path

if TYPE_CHECKING:
    from .snapshot import Snapshot

__all__ = ["CACHE_FORMAT", "cache_path", "data_version", "load_cached", "save_cached"]

log = logging.getLogger(__name__)

#: Bump when the Snapshot's shape or meaning changes, so older cache files are ignored.
CACHE_FORMAT = 2  # 2: observed_shares (results given as shares of the native tokens)


def cache_path(url: str) -> Path | None:
    """Where the snapshot of the SQLite catalog at ``url`` is kept (whether or not the file exists yet)."""
    from vlmplanner import __version__
    from vlmplanner.settings import data_dir

    try:
        path = sqlite_path(url)
    except Exception:  # an unparsable URL: the store reports it when it opens
        return None
    if path is None:
        return None
    name = hashlib.sha256(str(path.expanduser().resolve()).encode()).hexdigest()[:24]
    return data_dir() / "cache" / f"snapshot-{name}-v{__version__}-f{CACHE_FORMAT}.pickle"


def load_cached(url: str, version: str | None = None) -> tuple[Snapshot | None, str | None]:
    """(the cached snapshot if it was taken at ``version``, that version). ``version`` defaults to
    the catalog file's data version."""
    version = data_version(url) if version is None else version
    path = cache_path(url)
    if version is None or path is None or not path.is_file():
        return None, version
    try:
        with path.open("rb") as handle:
            stored_version, snapshot = pickle.load(handle)
    except Exception as exc:  # truncated, from other code, unreadable: rebuild it
        log.debug("ignoring the planner cache %s: %s", path, exc)
        return None, version
    if stored_version != version:
        return None, version
    snapshot.laws.refitted = []  # nothing was fitted to give this copy
    return snapshot, version


def save_cached(url: str, version: str | None, snapshot: Snapshot) -> None:
    """Write the snapshot for ``version``; silently skipped where the cache folder cannot be written."""
    import tempfile

    path = cache_path(url)
    if version is None or path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, prefix=".snapshot-") as handle:
            pickle.dump((version, snapshot), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(handle.name, 0o600)
        os.replace(handle.name, path)  # atomic: a reader sees the old file or the new one
    except OSError as exc:
        log.debug("not caching the planner snapshot at %s: %s", path, exc)
