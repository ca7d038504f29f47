"""Printing schemas for people (rich tables) and for programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

__all__ = ["print_fields", "print_json", "print_table"]


def print_json(data: Any) -> None:
    """JSON on stdout, with schemas dumped in JSON mode (datetimes as ISO strings)."""
    import typer

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    typer.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


def print_table(
    title: str, columns: Sequence[tuple[str, Callable[[Any], Any]]], rows: Sequence[Any], *, caption: str = ""
) -> None:
    """A rich table; each column is a header and a function of the row."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption or f"{len(rows)} row(s)", show_lines=False)
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*("" if (v := get(row)) is None else str(v) for _, get in columns))
    Console().print(table)


def print_fields(title: str, fields: Sequence[tuple[str, str]]) -> None:
    """A titled list of labelled values, long values wrapped under their label: plain text, no
    rich import, so the commands people run most print at once."""
    import shutil
    import textwrap

    import typer

    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    label_width = max((len(label) for label, _ in fields), default=0) + 2
    lines = [title]
    for label, value in fields:
        wrapped = textwrap.wrap(value, width=width - label_width - 2, break_on_hyphens=False,
                                break_long_words=True) or ["–"]
        lines.append(f"  {label:<{label_width}}{wrapped[0]}")
        lines.extend(f"  {'':<{label_width}}{line}" for line in wrapped[1:])
    typer.echo("\n".join(lines))
