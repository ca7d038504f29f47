"""Seeding: bring the shipped rows into a catalog, touching only what differs.

Idempotent by construction: each shipped row is matched on its natural key and written only when it
is new or its values changed, so seeding twice changes nothing. Rows the user added are never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import convert
from .orm import BenchmarkRow, CompressorRow, HardwareRow, ModelRow, ResultRow, _now
from .shipped import PublishedResult, ShippedCatalog

if TYPE_CHECKING:
    from .catalog import SeedReport

__all__ = ["apply_seed"]


def _sync(
    session: Session,
    report: Any,
    table: str,
    row_type: type[Any],
    key: str,
    wanted: Sequence[dict[str, Any]],
    *,
    stamp: bool = True,
) -> dict[str, int]:
    existing = {getattr(row, key): row for row in session.scalars(select(row_type))}
    inserted = updated = unchanged = 0
    for values in wanted:
        row = existing.get(values[key])
        if row is None:
            row = row_type(**values, **({"updated_at": _now()} if stamp else {}))
            session.add(row)
            existing[values[key]] = row
            inserted += 1
        elif any(getattr(row, column) != value for column, value in values.items()):
            for column, value in values.items():
                setattr(row, column, value)
            if stamp:
                row.updated_at = _now()
            updated += 1
        else:
            unchanged += 1
    session.flush()
    report.inserted[table], report.updated[table], report.unchanged[table] = inserted, updated, unchanged
    return {name: row.id for name, row in existing.items()}


def _result_values(
    result: PublishedResult, models: dict[str, int], compressors: dict[str, int], benchmarks: dict[str, int]
) -> dict[str, Any]:
    return {
        "model_id": models[result.model] if result.model else None,
        "model_label": result.model_label,
        "compressor_id": compressors[result.compressor],
        "compressor_label": result.compressor_label,
        "visual_tokens": result.visual_tokens,
        "visual_tokens_label": result.visual_tokens_label,
        "benchmark_id": benchmarks[result.benchmark],
        "score": result.score,
        "provenance": "published",
        "source": result.source,
        "secondary": result.secondary,
        "flags": list(result.flags),
        "note": result.note,
    }


def apply_seed(session: Session, shipped: ShippedCatalog) -> SeedReport:
    from .catalog import SeedReport

    report = SeedReport()
    models = _sync(session, report, "models", ModelRow, "checkpoint", [convert.model_values(m) for m in shipped.models])
    compressors = _sync(
        session, report, "compressors", CompressorRow, "name", [convert.compressor_values(c) for c in shipped.compressors]
    )
    _sync(session, report, "hardware", HardwareRow, "name", [convert.hardware_values(h) for h in shipped.hardware])
    benchmarks = _sync(
        session, report, "benchmarks", BenchmarkRow, "name", [convert.benchmark_values(b) for b in shipped.benchmarks],
        stamp=False,
    )
    key_of: Callable[[ResultRow], tuple[Any, ...]] = lambda row: (  # noqa: E731
        row.model_label, row.compressor_label, row.visual_tokens_label, row.benchmark_id, row.source
    )
    existing = {key_of(row): row for row in session.scalars(select(ResultRow))}
    inserted = updated = unchanged = 0
    for result in shipped.results:
        values = _result_values(result, models, compressors, benchmarks)
        key = (result.model_label, result.compressor_label, result.visual_tokens_label,
               values["benchmark_id"], result.source)
        row = existing.get(key)
        if row is None:
            session.add(ResultRow(**values, recorded_at=_now()))
            inserted += 1
        elif any(getattr(row, column) != value for column, value in values.items()):
            for column, value in values.items():
                setattr(row, column, value)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    report.inserted["results"], report.updated["results"], report.unchanged["results"] = inserted, updated, unchanged
    return report
