"""Reading CSV files row by row, with errors that name the file and the line.

Files come from spreadsheets and other tools as often as from code, so a UTF-8 byte-order mark is
skipped and headers match whatever their case and surrounding spaces; a column nobody reads is an
error (a typo such as ``scroe`` would otherwise drop a field silently).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from vlmplanner.errors import CsvFormatError, suggest

__all__ = ["read_rows"]


def _header(raw: Sequence[str], required: Sequence[str], optional: Sequence[str] | None, shown: str) -> list[str]:
    header = [name.strip().lower() for name in raw]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise CsvFormatError(f"column {name!r} appears twice in the header", path=shown, line=1, field=name)
        seen.add(name)
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvFormatError(
            f"missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}",
            path=shown, line=1, field=missing[0],
        )
    if optional is not None:
        known = [*required, *optional]
        unknown = [name for name in header if name not in known]
        if unknown:
            close = suggest(unknown[0], known)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CsvFormatError(
                f"unknown column(s) {', '.join(repr(u) for u in unknown)}{hint} (known: {', '.join(known)})",
                path=shown, line=1, field=unknown[0], value=unknown[0],
            )
    return header


def read_rows(path: Path, required: Sequence[str], optional: Sequence[str] | None = None,
              ) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)`` with lower-case keys; a missing or (when ``optional`` is given)
    unknown column, a short row or bad encoding is a CsvFormatError."""
    shown = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvFormatError(f"cannot read file: {exc.strerror}", path=shown, line=0) from exc
    with handle:
        reader = csv.reader(handle)
        line = 1
        try:
            raw = next(reader, None)
            header = _header(raw or [], required, optional, shown)
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue  # a blank line
                if len(values) != len(header):
                    raise CsvFormatError(f"expected {len(header)} fields, found {len(values)}", path=shown,
                                         line=line)
                yield line, {key: value.strip() for key, value in zip(header, values)}
        except UnicodeDecodeError as exc:
            raise CsvFormatError("the file is not UTF-8 text", path=shown, line=line) from exc
        except csv.Error as exc:
            raise CsvFormatError(str(exc), path=shown, line=reader.line_num) from exc
