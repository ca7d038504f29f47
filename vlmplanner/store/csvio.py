"""Reading CSV files row by row, with errors that name the file and the line."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from vlmplanner.errors import CsvFormatError

__all__ = ["read_rows"]


def read_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)``; a missing column, short row or bad encoding is a CsvFormatError."""
    shown = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CsvFormatError(f"cannot read file: {exc.strerror}", path=shown, line=0) from exc
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            missing = [name for name in required if name not in header]
            if missing:
                raise CsvFormatError(
                    f"missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}",
                    path=shown,
                    line=1,
                    field=missing[0],
                )
            for row in reader:
                if None in row or any(value is None for value in row.values()):
                    raise CsvFormatError(
                        f"expected {len(header)} fields, found a different number",
                        path=shown,
                        line=reader.line_num,
                    )
                yield reader.line_num, {key: value.strip() for key, value in row.items()}
        except UnicodeDecodeError as exc:
            raise CsvFormatError("the file is not UTF-8 text", path=shown, line=reader.line_num) from exc
        except csv.Error as exc:
            raise CsvFormatError(str(exc), path=shown, line=reader.line_num) from exc
