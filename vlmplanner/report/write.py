"""Choosing a report's format and writing it: atomically, so a failed write leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlmplanner.errors import ReportOutputError

__all__ = ["FORMATS", "check_output", "format_of", "render", "write_report", "write_text"]

#: format -> the suffixes that select it
FORMATS: dict[str, tuple[str, ...]] = {
    "html": (".html", ".htm"),
    "md": (".md", ".markdown"),
    "json": (".json",),
    "csv": (".csv",),
}


def format_of(path: str | os.PathLike[str] | None, format: str | None, *,
              formats: dict[str, tuple[str, ...]] = FORMATS) -> str:
    """The format ``format`` names, or that ``path``'s suffix names."""
    if format is not None:
        name = format.strip().lower().lstrip(".")
        name = {"markdown": "md", "htm": "html"}.get(name, name)
        if name not in formats:
            raise ReportOutputError(f"unknown report format {format!r}; use one of {', '.join(formats)}",
                                    field="format", value=format)
        return name
    if path is None:
        return "md"
    suffix = Path(path).suffix.lower()
    for name, suffixes in formats.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for suffixes in formats.values() for s in suffixes)
    raise ReportOutputError(f"cannot tell the report format from {str(path)!r}: its suffix {suffix or '(none)'!r}"
                            f" is not one of {known}; pass --format", field="format", value=suffix)


def check_output(path: str | os.PathLike[str]) -> Path:
    """The output path, if a file can be written there: its folder exists and is writable, and it
    is not a folder itself. Checked before the report is computed."""
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ReportOutputError(f"the report output {str(path)!r} is a folder; give a file name such as"
                                f" {str(target / 'report.html')!r}", field="output", value=str(path))
    if not folder.is_dir():
        raise ReportOutputError(f"cannot write the report to {str(path)!r}: the folder {str(folder)!r} does not"
                                " exist", field="output", value=str(path))
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ReportOutputError(f"cannot write the report to {str(path)!r}: permission denied", field="output",
                                value=str(path))
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, renamed into place."""
    target = check_output(path)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        raise ReportOutputError(f"cannot write the report to {str(path)!r}: {exc.strerror or exc}", field="output",
                                value=str(path)) from exc
    return target


def _renderers() -> dict[str, Callable[[Any], str]]:
    from .html import render_html
    from .markdown import render_markdown
    from .tables import render_csv, render_json

    return {"html": render_html, "md": render_markdown, "json": render_json, "csv": render_csv}


def render(report: Any, format: str) -> str:
    return _renderers()[format_of(None, format)](report)


def write_report(report: Any, path: str | os.PathLike[str], *, format: str | None = None) -> Path:
    check_output(path)
    name = format_of(path, format)
    return write_text(path, render(report, name))
