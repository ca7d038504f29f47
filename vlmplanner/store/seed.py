"""Seeding: bring the shipped rows into a catalog, touching only what differs and never a user's row.

Idempotent by construction: each shipped row is matched on its natural key and written only when it
is new or its values changed, so seeding twice changes nothing. A row a user registered, added or
imported (``origin = "user"``) is never overwritten: when the shipped data holds a different row
under the same key, the seed reports the conflict and leaves the user's row, unless the caller asks
for the shipped version explicitly (``take_shipped``).

A new, empty catalog is filled with bulk inserts, so the first use on a fresh machine stays quick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import convert
from .orm import BenchmarkRow, CompressorRow, HardwareRow, ModelRow, ResultRow, ScalingFitRow, _now
from .shipped import PublishedResult, ShippedCatalog, ShippedFit

if TYPE_CHECKING:
    from .catalog import SeedReport

__all__ = ["apply_seed"]

SHIPPED = "shipped"


def _differs(row: Any, values: dict[str, Any]) -> bool:
    return any(getattr(row, column) != value for column, value in values.items() if column != "origin")


def _sync(
    session: Session,
    report: SeedReport,
    table: str,
    row_type: type[Any],
    key: Callable[[Any], Any],
    wanted: Sequence[dict[str, Any]],
    *,
    take_shipped: bool,
    stamp: str | None = "updated_at",
) -> None:
    """Insert the missing shipped rows, refresh changed shipped ones, report conflicts with a user's."""
    existing = {key(row): row for row in session.scalars(select(row_type))}
    inserted = updated = unchanged = 0
    conflicts: list[str] = []
    fresh: list[dict[str, Any]] = []
    for values in wanted:
        values = values | {"origin": SHIPPED}
        row = existing.get(key(values))
        if row is None:
            fresh.append(values | ({stamp: _now()} if stamp else {}))
            inserted += 1
        elif not _differs(row, values):
            unchanged += 1
        elif row.origin != SHIPPED and not take_shipped:
            conflicts.append(_label(key(values)))
        else:
            for column, value in values.items():
                setattr(row, column, value)
            if stamp:
                setattr(row, stamp, _now())
            updated += 1
    if fresh:
        session.execute(insert(row_type.__table__), fresh)  # one Core executemany, no ORM objects
    session.flush()
    report.inserted[table], report.updated[table], report.unchanged[table] = inserted, updated, unchanged
    if conflicts:
        report.conflicts[table] = conflicts


def _label(key: Any) -> str:
    if isinstance(key, tuple):
        return " / ".join(str(part) for part in key if part is not None)
    return str(key)


def _ids(session: Session, row_type: type[Any], column: str) -> dict[str, int]:
    return {name: id_ for id_, name in session.execute(select(row_type.id, getattr(row_type, column)))}


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


def _result_key(row: Any) -> tuple[Any, ...]:
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    return (get("model_label"), get("compressor_label"), get("visual_tokens_label"), get("benchmark_id"),
            get("source"))


def _sync_fits(session: Session, report: SeedReport, fits: Sequence[ShippedFit], compressors: dict[str, int],
               benchmarks: dict[str, int]) -> None:
    """Store the shipped fits. A stored fit of other data (the user's results changed it, and they
    saved it) is the user's and stays; one of the same data is refreshed."""
    from vlmplanner import __version__

    existing = {(row.family, row.compressor_id, row.benchmark_id): row for row in session.scalars(select(ScalingFitRow))}
    inserted = updated = unchanged = 0
    fresh: list[dict[str, Any]] = []
    for fit in fits:
        values: dict[str, Any] = {
            "family": fit.family, "compressor_id": compressors[fit.compressor], "benchmark_id": benchmarks[fit.benchmark],
            "data_digest": fit.data_digest, "alpha": float(fit.fit["alpha"]), "beta": float(fit.fit["beta"]),
            "loo_mae_points": fit.fit.get("loo_mae_points"), "n_points": int(fit.fit["n_points"]), "fit": fit.fit,
            "vlmplanner_version": __version__,
        }
        row = existing.get((values["family"], values["compressor_id"], values["benchmark_id"]))
        if row is None:
            fresh.append(values | {"fitted_at": _now()})
            inserted += 1
        elif row.data_digest != fit.data_digest or row.fit == fit.fit:
            unchanged += 1
        else:
            for column, value in values.items():
                setattr(row, column, value)
            row.fitted_at = _now()
            updated += 1
    if fresh:
        session.execute(insert(ScalingFitRow), fresh)
    session.flush()
    report.inserted["scaling_fits"], report.updated["scaling_fits"] = inserted, updated
    report.unchanged["scaling_fits"] = unchanged


def apply_seed(session: Session, shipped: ShippedCatalog, *, take_shipped: bool = False) -> SeedReport:
    from .catalog import SeedReport

    report = SeedReport()

    def by(column: str) -> Callable[[Any], Any]:
        return lambda row: row[column] if isinstance(row, dict) else getattr(row, column)

    _sync(session, report, "models", ModelRow, by("checkpoint"), [convert.model_values(m) for m in shipped.models],
          take_shipped=take_shipped)
    _sync(session, report, "compressors", CompressorRow, by("name"),
          [convert.compressor_values(c) for c in shipped.compressors], take_shipped=take_shipped)
    _sync(session, report, "hardware", HardwareRow, by("name"), [convert.hardware_values(h) for h in shipped.hardware],
          take_shipped=take_shipped)
    _sync(session, report, "benchmarks", BenchmarkRow, by("name"),
          [convert.benchmark_values(b) for b in shipped.benchmarks], take_shipped=take_shipped, stamp=None)
    models = _ids(session, ModelRow, "checkpoint")
    compressors = _ids(session, CompressorRow, "name")
    benchmarks = _ids(session, BenchmarkRow, "name")
    results = [_result_values(r, models, compressors, benchmarks) for r in shipped.results]
    _sync(session, report, "results", ResultRow, _result_key, results, take_shipped=take_shipped,
          stamp="recorded_at")
    _sync_fits(session, report, shipped.fits, compressors, benchmarks)
    return report
