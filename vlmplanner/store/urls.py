"""Reading catalog URLs without SQLAlchemy, for the paths that must stay light (the planner's cache).

SQLAlchemy parses URLs when it makes an engine; this module knows only what vlmplanner itself needs
to know before that: which file a SQLite URL names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

__all__ = ["sqlite_path"]


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
