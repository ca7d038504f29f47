"""The catalog: one object that reads and writes models, compressors, hardware and results.

Every write runs in one transaction: either all of it lands or none of it, and natural keys make
writes idempotent (writing the same result twice stores it once). Rows leave as pydantic schemas.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from vlmplanner.errors import (
    CatalogLocationError,
    CatalogWriteError,
    CsvFormatError,
    InvalidTokenCountError,
    ScoreOutOfRangeError,
    UnknownBenchmarkError,
    UnknownCompressorError,
    UnknownHardwareError,
    UnknownModelError,
    ValidationError,
    VlmPlannerError,
)
from vlmplanner.schemas import (
    Benchmark,
    CompressorSpec,
    CostMeasurement,
    Hardware,
    ModelSpec,
    QualityResult,
    ResultIn,
    StoredFit,
)
from vlmplanner.schemas._base import build

from . import convert
from .csvio import read_rows
from .dberrors import translate
from .engine import WRITE, check_connection, make_engine, mask_url
from .migrate import current_revision, ensure_schema
from .orm import (
    Base,
    BenchmarkRow,
    CompressorRow,
    CostMeasurementRow,
    HardwareRow,
    MetaRow,
    ModelRow,
    ResultRow,
    ScalingFitRow,
)
from .rules import check_candidate
from .stamp import sqlite_path

__all__ = ["Catalog", "SeedReport", "open_catalog"]

log = logging.getLogger(__name__)
T = TypeVar("T")

RESULT_CSV_COLUMNS = ("model", "compressor", "visual_tokens", "benchmark", "score", "source")
RESULT_CSV_OPTIONAL = ("note", "device", "dtype", "provenance")
_UPSERT_CHUNK = 400
_LOCK_RETRIES = 5


@dataclass
class SeedReport:
    """What one seeding changed, per table: rows inserted, updated and already identical."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    #: table -> keys of rows a user wrote that differ from the shipped row; they were left as they are
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.inserted.values()) or any(self.updated.values())


def open_catalog(url: str | None = None, *, seed: bool = True) -> Catalog:
    """Open (and on first use create and seed) the catalog at ``url``.

    ``url`` defaults to ``VLMPLANNER_CATALOG_URL``, then a SQLite file in the user's data directory.
    """
    from vlmplanner.settings import resolve_catalog_url

    resolved = resolve_catalog_url(url)
    engine = make_engine(resolved)
    check_connection(engine)
    try:
        ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    catalog = Catalog(engine)
    if seed and catalog.is_empty():
        catalog.seed()
    return catalog


class Catalog:
    """Reads and writes the catalog database. Create it with :func:`open_catalog`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_engine = engine.execution_options(**{WRITE: True})

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The catalog's URL with any password masked."""
        return mask_url(self._engine.url)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine) as session:
            try:
                yield session
            except DBAPIError as exc:
                raise translate(exc, self._engine.url, doing="reading the catalog", masked=self.url) from exc

    def _write(self, work: Callable[[Session], T], *, changed: Callable[[T], bool] | None = None) -> T:
        """Run ``work`` in one write transaction; all of it commits or none of it does.

        The transaction also stamps a new data version, unless ``changed`` says the work changed
        nothing (an idempotent seed)."""
        for attempt in range(_LOCK_RETRIES):
            try:
                with Session(self._write_engine) as session, session.begin():
                    done = work(session)
                    if changed is None or changed(done):
                        _stamp_data_version(session)
                    return done
            except IntegrityError as exc:
                raise CatalogWriteError(
                    f"the catalog refused the write, nothing was written: {exc.orig}"
                ) from exc
            except DBAPIError as exc:
                locked = "locked" in str(exc.orig).lower() or "deadlock" in str(exc.orig).lower()
                if isinstance(exc, OperationalError) and locked and attempt + 1 < _LOCK_RETRIES:
                    time.sleep(0.05 * 2**attempt)
                    continue
                raise translate(exc, self._engine.url, doing="writing to the catalog", masked=self.url,
                                writing=True) from exc
            except SQLAlchemyError as exc:
                raise CatalogWriteError(f"writing to the catalog failed, nothing was written: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema facts -----------------------------------------------------------------------
    def schema_revision(self) -> str | None:
        with self._read() as session:
            return current_revision(session.connection())

    def check_integrity(self) -> str:
        """"ok", or a CatalogLocationError saying the SQLite file is damaged (PostgreSQL checks its own)."""
        if self.dialect != "sqlite":
            return "ok (checked by the server)"
        from sqlalchemy import text

        with self._read() as session:
            problems = [line for row in session.execute(text("PRAGMA quick_check")) for line in str(row[0]).splitlines()]
        if problems != ["ok"]:
            shown = "; ".join(problems[:2]) + (f"; and {len(problems) - 2} more" if len(problems) > 2 else "")
            raise CatalogLocationError(
                f"the catalog file {sqlite_path(self._engine.url)} is damaged (quick_check: {shown}); move it aside"
                " and vlmplanner creates and seeds a fresh one on next use, or pass --catalog with another URL",
                field="catalog", value=self.url)
        return "ok"

    def is_empty(self) -> bool:
        with self._read() as session:
            return session.scalar(select(ModelRow.id).limit(1)) is None

    def meta(self) -> dict[str, str]:
        with self._read() as session:
            return {row.key: row.value for row in session.scalars(select(MetaRow))}

    def data_version(self) -> str | None:
        """``"<schema revision>:<data version>"``: changes with every write (caches key on it)."""
        from .stamp import DATA_VERSION_KEY

        with self._read() as session:
            value = session.scalar(select(MetaRow.value).where(MetaRow.key == DATA_VERSION_KEY))
            return None if value is None else f"{current_revision(session.connection())}:{value}"

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self._read() as session:
            return {
                table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
                for table in (ModelRow, CompressorRow, HardwareRow, BenchmarkRow, ResultRow, CostMeasurementRow,
                              ScalingFitRow)
            }

    # -- reads: reference tables -------------------------------------------------------------
    def models(self, *, family: str | None = None, public: bool | None = None) -> list[ModelSpec]:
        query = select(ModelRow).order_by(ModelRow.model_type, ModelRow.llm_params_b, ModelRow.checkpoint)
        if family is not None:
            query = query.where(ModelRow.model_type == family)
        if public is not None:
            query = query.where(ModelRow.public_checkpoint == public)
        with self._read() as session:
            return [convert.model_from_row(row) for row in session.scalars(query)]

    def model(self, checkpoint: str) -> ModelSpec:
        with self._read() as session:
            return convert.model_from_row(self._model_row(session, checkpoint))

    def compressors(self, *, kind: str | None = None, training: str | None = None) -> list[CompressorSpec]:
        query = select(CompressorRow).order_by(CompressorRow.name)
        if kind is not None:
            query = query.where(CompressorRow.kind == kind)
        if training is not None:
            query = query.where(CompressorRow.training == training)
        with self._read() as session:
            return [convert.compressor_from_row(row) for row in session.scalars(query)]

    def compressor(self, name: str) -> CompressorSpec:
        with self._read() as session:
            return convert.compressor_from_row(self._compressor_row(session, name))

    def hardware_profiles(self) -> list[Hardware]:
        with self._read() as session:
            rows = session.scalars(select(HardwareRow).order_by(HardwareRow.name))
            return [convert.hardware_from_row(row) for row in rows]

    def hardware(self, name: str) -> Hardware:
        with self._read() as session:
            row = session.scalar(select(HardwareRow).where(HardwareRow.name == name.lower()))
            if row is None:
                raise UnknownHardwareError(name, session.scalars(select(HardwareRow.name)))
            return convert.hardware_from_row(row)

    def benchmarks(self, *, task_family: str | None = None) -> list[Benchmark]:
        query = select(BenchmarkRow).order_by(BenchmarkRow.task_family, BenchmarkRow.name)
        if task_family is not None:
            query = query.where(BenchmarkRow.task_family == task_family)
        with self._read() as session:
            return [convert.benchmark_from_row(row) for row in session.scalars(query)]

    def benchmark(self, name: str) -> Benchmark:
        with self._read() as session:
            return convert.benchmark_from_row(self._benchmark_row(session, name))

    # -- name resolution (did-you-mean lives here) -------------------------------------------
    @staticmethod
    def _model_row(session: Session, checkpoint: str) -> ModelRow:
        row = session.scalar(select(ModelRow).where(ModelRow.checkpoint == checkpoint))
        if row is None:
            known = list(session.scalars(select(ModelRow.checkpoint)))
            matches = [k for k in known if k.lower() == checkpoint.lower()]
            if len(matches) == 1:
                return session.scalars(select(ModelRow).where(ModelRow.checkpoint == matches[0])).one()
            raise UnknownModelError(checkpoint, known, hint="vlmplanner catalog models lists them")
        return row

    @staticmethod
    def _compressor_row(session: Session, name: str) -> CompressorRow:
        rows = list(session.scalars(select(CompressorRow)))
        for row in rows:
            if convert.compressor_from_row(row).answers_to(name):
                return row
        raise UnknownCompressorError(name, [r.name for r in rows], hint="vlmplanner catalog compressors lists them")

    @staticmethod
    def _benchmark_row(session: Session, name: str) -> BenchmarkRow:
        rows = list(session.scalars(select(BenchmarkRow)))
        for row in rows:
            if row.name == name:
                return row
        for row in rows:
            if row.name.lower() == name.lower():
                return row
        raise UnknownBenchmarkError(name, [r.name for r in rows], hint="vlmplanner catalog benchmarks lists them")

    # -- reads: results ----------------------------------------------------------------------
    def results(
        self,
        *,
        model: str | None = None,
        compressor: str | None = None,
        benchmark: str | None = None,
        task_family: str | None = None,
        visual_tokens: int | None = None,
        provenance: str | None = None,
        limit: int | None = None,
    ) -> list[QualityResult]:
        """Quality results, filtered; unknown filter names are errors with suggestions."""
        query = _results_query().order_by(ResultRow.id)
        with self._read() as session:
            if model is not None:
                query = query.where(ResultRow.model_id == self._model_row(session, model).id)
            if compressor is not None:
                query = query.where(ResultRow.compressor_id == self._compressor_row(session, compressor).id)
            if benchmark is not None:
                query = query.where(ResultRow.benchmark_id == self._benchmark_row(session, benchmark).id)
            if task_family is not None:
                from vlmplanner.errors import UnknownTaskError
                from vlmplanner.schemas import TASK_FAMILIES

                if task_family not in TASK_FAMILIES:
                    raise UnknownTaskError(task_family, TASK_FAMILIES)
                query = query.where(BenchmarkRow.task_family == task_family)
            if visual_tokens is not None:
                query = query.where(ResultRow.visual_tokens == visual_tokens)
            if provenance is not None:
                query = query.where(ResultRow.provenance == provenance)
            if limit is not None:
                query = query.limit(limit)
            return convert.results_from_rows(session.execute(query).mappings())

    def cost_measurements(self, *, candidate_key: str | None = None) -> list[CostMeasurement]:
        query = select(CostMeasurementRow).order_by(CostMeasurementRow.id)
        if candidate_key is not None:
            query = query.where(CostMeasurementRow.candidate_key == candidate_key)
        with self._read() as session:
            return [convert.cost_from_row(row) for row in session.scalars(query)]

    # -- writes: reference tables -------------------------------------------------------------
    def add_model(self, spec: ModelSpec) -> ModelSpec:
        """Insert or replace the model with this checkpoint id."""
        self._write(lambda s: _upsert(s, ModelRow.__table__, [convert.model_values(spec) | {"updated_at": _now(), "origin": USER}], ["checkpoint"]))
        return self.model(spec.checkpoint)

    def add_compressor(self, spec: CompressorSpec) -> CompressorSpec:
        self._write(lambda s: _upsert(s, CompressorRow.__table__, [convert.compressor_values(spec) | {"updated_at": _now(), "origin": USER}], ["name"]))
        return self.compressor(spec.name)

    def add_hardware(self, spec: Hardware) -> Hardware:
        self._write(lambda s: _upsert(s, HardwareRow.__table__, [convert.hardware_values(spec) | {"updated_at": _now(), "origin": USER}], ["name"]))
        return self.hardware(spec.name)

    def add_benchmark(self, spec: Benchmark) -> Benchmark:
        def work(session: Session) -> None:
            existing = session.scalar(select(BenchmarkRow).where(BenchmarkRow.name == spec.name))
            if existing is not None:
                stored = session.scalars(select(ResultRow.score).where(ResultRow.benchmark_id == existing.id))
                outside = [score for score in stored if not spec.contains(score)]
                if outside:
                    raise ScoreOutOfRangeError(
                        f"benchmark {spec.name!r}: {len(outside)} stored score(s) (e.g. {outside[0]}) would fall"
                        f" outside the new range [{spec.min_score}, {spec.max_score}]",
                        field="max_score",
                        value=spec.max_score,
                    )
            _upsert(session, BenchmarkRow.__table__, [convert.benchmark_values(spec) | {"origin": USER}], ["name"])

        self._write(work)
        return self.benchmark(spec.name)

    # -- writes: results ----------------------------------------------------------------------
    def add_result(self, result: ResultIn | None = None, **fields: Any) -> QualityResult:
        """Store one result (or update the score of the same result from the same source)."""
        return self.add_results([result if result is not None else build(ResultIn, fields)])[0]

    def add_results(self, results: Sequence[ResultIn]) -> list[QualityResult]:
        """Store results all together: if any one is invalid, none is written."""
        results = list(results)
        if not results:
            return []

        def work(session: Session) -> list[int]:
            values = [self._result_values(session, r, index=i if len(results) > 1 else None) for i, r in enumerate(results)]
            return _upsert_results(session, values)

        ids = self._write(work)
        with self._read() as session:
            stored = convert.results_from_rows(session.execute(_results_query().where(ResultRow.id.in_(ids))).mappings())
        by_id = {result.id: result for result in stored}
        return [by_id[i] for i in ids]

    def _result_values(self, session: Session, result: ResultIn, *, index: int | None) -> dict[str, Any]:
        where = "" if index is None else f" (result #{index + 1})"
        if result.visual_tokens <= 0:
            raise InvalidTokenCountError(
                f"visual_tokens must be a positive integer, got {result.visual_tokens}{where}",
                field="visual_tokens",
                value=result.visual_tokens,
            )
        model = self._model_row(session, result.model)
        compressor = self._compressor_row(session, result.compressor)
        benchmark = self._benchmark_row(session, result.benchmark)
        try:
            check_candidate(convert.model_from_row(model), compressor.name, result.visual_tokens)
        except InvalidTokenCountError as exc:
            raise InvalidTokenCountError(exc.message + where, field=exc.field, value=exc.value) from None
        spec = convert.benchmark_from_row(benchmark)
        if not spec.contains(result.score):
            upper = "no upper bound" if spec.max_score is None else f"at most {spec.max_score:g}"
            raise ScoreOutOfRangeError(
                f"score {result.score:g} is outside the range of {spec.name} ({spec.metric}): at least"
                f" {spec.min_score:g}, {upper}{where}",
                field="score",
                value=result.score,
            )
        return {
            "model_id": model.id,
            "model_label": model.checkpoint,
            "compressor_id": compressor.id,
            "compressor_label": compressor.name,
            "visual_tokens": result.visual_tokens,
            "visual_tokens_label": str(result.visual_tokens),
            "benchmark_id": benchmark.id,
            "score": result.score,
            "provenance": result.provenance,
            "source": result.source,
            "secondary": False,
            "flags": [],
            "note": result.note,
            "device": result.device,
            "dtype": result.dtype,
            "versions": dict(result.versions),
            "recorded_at": _now(),
            "origin": USER,
        }

    def import_results_csv(self, path: str | Path, *, provenance: str = "imported") -> list[QualityResult]:
        """Read results from a CSV file and store them all, or none if any row is bad.

        Columns (any case; a UTF-8 byte-order mark is fine): model, compressor, visual_tokens,
        benchmark, score, source; optional note, device, dtype, provenance. An unknown column, or two
        rows for the same result (model, compressor, visual_tokens, benchmark, source), is an error.
        """
        path = Path(path)
        parsed: list[tuple[int, ResultIn]] = []
        first_line: dict[tuple[str, ...], int] = {}
        for line, row in read_rows(path, RESULT_CSV_COLUMNS, RESULT_CSV_OPTIONAL):
            data: dict[str, Any] = {k: row[k] for k in RESULT_CSV_COLUMNS}
            for optional in ("note", "device", "dtype"):
                if row.get(optional):
                    data[optional] = row[optional]
            data["provenance"] = row.get("provenance") or provenance
            data["visual_tokens"] = _csv_number(int, row, "visual_tokens", path, line)
            data["score"] = _csv_number(float, row, "score", path, line)
            try:
                result = build(ResultIn, data)
            except ValidationError as exc:
                raise CsvFormatError(exc.message, path=str(path), line=line, field=exc.field, value=exc.value) from exc
            key = (result.model, result.compressor.lower(), str(result.visual_tokens), result.benchmark.lower(),
                   result.source)
            if key in first_line:
                raise CsvFormatError(
                    f"the same result (model, compressor, visual_tokens, benchmark, source) is already on line"
                    f" {first_line[key]}; keep one row per result", path=str(path), line=line, field="source",
                    value=result.source)
            first_line[key] = line
            parsed.append((line, result))
        if not parsed:
            raise CsvFormatError("the file has no result rows", path=str(path), line=1)

        def work(session: Session) -> list[int]:
            values = []
            for line, result in parsed:
                try:
                    values.append(self._result_values(session, result, index=None))
                except VlmPlannerError as exc:
                    raise CsvFormatError(exc.message, path=str(path), line=line, field=exc.field, value=exc.value) from exc
            return _upsert_results(session, values)

        ids = set(self._write(work))
        return [r for r in self.results() if r.id in ids]

    def add_cost_measurement(self, measurement: CostMeasurement) -> CostMeasurement:
        values = measurement.model_dump()
        values["recorded_at"] = values.get("recorded_at") or _now()
        self._write(lambda s: _upsert(s, CostMeasurementRow.__table__, [values], list(_COST_KEY)))
        return measurement.model_copy(update={"recorded_at": values["recorded_at"]})

    # -- scaling-law fits ---------------------------------------------------------------------
    def scaling_fits(
        self, *, family: str | None = None, compressor: str | None = None, benchmark: str | None = None
    ) -> list[StoredFit]:
        query = (
            select(ScalingFitRow, CompressorRow.name, BenchmarkRow.name)
            .join(CompressorRow, ScalingFitRow.compressor_id == CompressorRow.id)
            .join(BenchmarkRow, ScalingFitRow.benchmark_id == BenchmarkRow.id)
            .order_by(ScalingFitRow.family, CompressorRow.name, BenchmarkRow.name)
        )
        with self._read() as session:
            if family is not None:
                query = query.where(ScalingFitRow.family == family)
            if compressor is not None:
                query = query.where(ScalingFitRow.compressor_id == self._compressor_row(session, compressor).id)
            if benchmark is not None:
                query = query.where(ScalingFitRow.benchmark_id == self._benchmark_row(session, benchmark).id)
            return [_stored_fit(row, c, b) for row, c, b in session.execute(query)]

    def save_scaling_fit(
        self, *, family: str, compressor: str, benchmark: str, data_digest: str, fit: dict[str, Any]
    ) -> StoredFit:
        """Store (or replace) the fit for one (family, compressor, benchmark)."""
        from vlmplanner import __version__

        def work(session: Session) -> None:
            values = {
                "family": family,
                "compressor_id": self._compressor_row(session, compressor).id,
                "benchmark_id": self._benchmark_row(session, benchmark).id,
                "data_digest": data_digest,
                "alpha": float(fit["alpha"]),
                "beta": float(fit["beta"]),
                "loo_mae_points": fit.get("loo_mae_points"),
                "n_points": int(fit["n_points"]),
                "fit": fit,
                "vlmplanner_version": __version__,
                "fitted_at": _now(),
            }
            _upsert(session, ScalingFitRow.__table__, [values], ["family", "compressor_id", "benchmark_id"])

        self._write(work)
        return self.scaling_fits(family=family, compressor=compressor, benchmark=benchmark)[0]

    # -- seeding ------------------------------------------------------------------------------
    def seed(self, directory: Path | None = None, *, take_shipped: bool = False) -> SeedReport:
        """Bring in the data this release ships; rows already identical are left untouched.

        A row you registered or added is never overwritten: where the shipped data differs from it,
        ``SeedReport.conflicts`` names it. ``take_shipped=True`` replaces those rows with the shipped
        ones.
        """
        from vlmplanner import __version__

        from .seed import apply_seed
        from .shipped import load_shipped

        shipped = load_shipped(directory)

        def work(session: Session) -> SeedReport:
            report = apply_seed(session, shipped, take_shipped=take_shipped)
            meta = {"shipped_version": __version__, "shipped_digest": shipped.digest}
            current = {row.key: row.value for row in session.scalars(select(MetaRow))}
            if report.changed or any(current.get(k) != v for k, v in meta.items()):
                meta["seeded_at"] = _now().isoformat(timespec="seconds")
                _upsert(session, MetaRow.__table__, [{"key": k, "value": v} for k, v in meta.items()], ["key"])
            return report

        return self._write(work, changed=lambda report: report.changed)


USER = "user"
_COST_KEY = ("candidate_key", "method", "device", "dtype", "batch_size", "text_tokens", "output_tokens")
_RESULT_KEY = ("model_label", "compressor_label", "visual_tokens_label", "benchmark_id", "source")


def _results_query() -> Any:
    """Results as plain columns (no ORM objects: 1,400 rows read in a third of the time), with the
    names of their model, compressor and benchmark."""
    table = ResultRow.__table__
    return (
        select(table, ModelRow.checkpoint.label("checkpoint"), CompressorRow.name.label("compressor_name"),
               BenchmarkRow.name.label("benchmark_name"), BenchmarkRow.metric.label("benchmark_metric"),
               BenchmarkRow.task_family.label("benchmark_task_family"))
        .join(CompressorRow, ResultRow.compressor_id == CompressorRow.id)
        .join(BenchmarkRow, ResultRow.benchmark_id == BenchmarkRow.id)
        .outerjoin(ModelRow, ResultRow.model_id == ModelRow.id)
    )


def _stamp_data_version(session: Session) -> None:
    """A new data version with every write, in its transaction: caches of what the catalog held
    (vlmplanner.planner.cache) know they are stale."""
    import uuid

    from .stamp import DATA_VERSION_KEY

    _upsert(session, MetaRow.__table__, [{"key": DATA_VERSION_KEY, "value": uuid.uuid4().hex}], ["key"])


def _csv_number(kind: type[int] | type[float], row: dict[str, str], column: str, path: Path, line: int) -> Any:
    try:
        return kind(row[column])
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise CsvFormatError(f"{column} must be {what}, got {row[column]!r}", path=str(path), line=line,
                             field=column, value=row[column]) from None


def _stored_fit(row: ScalingFitRow, compressor: str, benchmark: str) -> StoredFit:
    return StoredFit(
        family=row.family, compressor=compressor, benchmark=benchmark, data_digest=row.data_digest,
        alpha=row.alpha, beta=row.beta, loo_mae_points=row.loo_mae_points, n_points=row.n_points,
        fit=dict(row.fit), vlmplanner_version=row.vlmplanner_version, fitted_at=convert.as_utc(row.fitted_at),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _insert_for(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "sqlite":  # import only the dialect in use: PostgreSQL's costs 0.1 s
        from sqlalchemy.dialects.sqlite import insert

        return insert
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    raise CatalogWriteError(f"upserts are not supported on {name}")  # pragma: no cover


def _upsert(session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert rows, or update the row with the same natural key."""
    if not rows:
        return
    insert = _insert_for(session)
    rows = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))  # a fixed order avoids deadlocks
    for start in range(0, len(rows), _UPSERT_CHUNK):
        chunk = rows[start : start + _UPSERT_CHUNK]
        statement = insert(table).values(chunk)
        updates = {c: statement.excluded[c] for c in chunk[0] if c not in keys and c != "id"}
        session.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


def _upsert_results(session: Session, values: list[dict[str, Any]]) -> list[int]:
    _upsert(session, ResultRow.__table__, values, list(_RESULT_KEY))
    keys = {tuple(v[k] for k in _RESULT_KEY) for v in values}
    ids_by_key: dict[tuple[Any, ...], int] = {}
    sources = {v["source"] for v in values}
    for row in session.execute(
        select(ResultRow.id, *[getattr(ResultRow, k) for k in _RESULT_KEY]).where(ResultRow.source.in_(sources))
    ):
        key = tuple(row[1:])
        if key in keys:
            ids_by_key[key] = row[0]
    return [ids_by_key[tuple(v[k] for k in _RESULT_KEY)] for v in values]


def _tables() -> Iterable[Table]:  # pragma: no cover - used by tests and docs
    return Base.metadata.sorted_tables
