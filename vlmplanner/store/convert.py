"""ORM rows to schemas and back. Only this module knows both shapes."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter

from vlmplanner.schemas import (
    Benchmark,
    CompressorSpec,
    CostMeasurement,
    Hardware,
    ModelSpec,
    QualityResult,
)
from vlmplanner.schemas._base import as_validation_error

from .model_columns import MODEL_COLUMNS, MODEL_OPTIONAL_COLUMNS, model_data, model_values
from .orm import BenchmarkRow, CompressorRow, CostMeasurementRow, HardwareRow, ModelRow

__all__ = [
    "benchmark_from_row",
    "benchmark_values",
    "compressor_from_row",
    "compressor_values",
    "cost_from_row",
    "hardware_from_row",
    "hardware_values",
    "MODEL_COLUMNS",
    "MODEL_OPTIONAL_COLUMNS",
    "model_data",
    "model_from_row",
    "model_values",
    "results_from_rows",
]

def model_from_row(row: ModelRow) -> ModelSpec:
    columns = (*MODEL_COLUMNS, *MODEL_OPTIONAL_COLUMNS)
    return ModelSpec.model_validate(model_data({key: getattr(row, key) for key in columns}))


_COMPRESSOR = ("name", "display_name", "kind", "training", "paper", "arxiv", "prune_layer",
               "description", "source")


def compressor_values(spec: CompressorSpec) -> dict[str, Any]:
    values = {key: getattr(spec, key) for key in _COMPRESSOR}
    values["aliases"] = list(spec.aliases)
    return values


def compressor_from_row(row: CompressorRow) -> CompressorSpec:
    data = {key: getattr(row, key) for key in _COMPRESSOR}
    data["aliases"] = tuple(row.aliases or ())
    return CompressorSpec.model_validate(data)


_HARDWARE = tuple(Hardware.model_fields)


def hardware_values(spec: Hardware) -> dict[str, Any]:
    return {key: getattr(spec, key) for key in _HARDWARE}


def hardware_from_row(row: HardwareRow) -> Hardware:
    return Hardware.model_validate({key: getattr(row, key) for key in _HARDWARE})


_BENCHMARK = tuple(Benchmark.model_fields)


def benchmark_values(spec: Benchmark) -> dict[str, Any]:
    return {key: getattr(spec, key) for key in _BENCHMARK}


def benchmark_from_row(row: BenchmarkRow) -> Benchmark:
    return Benchmark.model_validate({key: getattr(row, key) for key in _BENCHMARK})


def results_from_rows(rows: Iterable[Mapping[Any, Any]]) -> list[QualityResult]:
    """Result rows read with their model, compressor and benchmark names (``Catalog._results_query``),
    validated in one call: pydantic checks a list much faster than one object at a time."""
    import pydantic

    data = [{
        "id": row["id"], "model": row["checkpoint"], "model_label": row["model_label"],
        "compressor": row["compressor_name"], "compressor_label": row["compressor_label"],
        "visual_tokens": row["visual_tokens"], "visual_tokens_label": row["visual_tokens_label"],
        "benchmark": row["benchmark_name"], "metric": row["benchmark_metric"],
        "task_family": row["benchmark_task_family"], "score": row["score"], "provenance": row["provenance"],
        "source": row["source"], "secondary": row["secondary"], "flags": tuple(row["flags"] or ()),
        "note": row["note"], "device": row["device"], "dtype": row["dtype"], "versions": dict(row["versions"] or {}),
        "recorded_at": as_utc(row["recorded_at"]),
    } for row in rows]
    try:
        return _results_adapter().validate_python(data)
    except pydantic.ValidationError as exc:  # a row the schema no longer accepts: say which
        raise as_validation_error(exc, "stored result") from exc


@functools.cache
def _results_adapter() -> TypeAdapter[list[QualityResult]]:
    return TypeAdapter(list[QualityResult])

_COST = tuple(k for k in CostMeasurement.model_fields)


def cost_from_row(row: CostMeasurementRow) -> CostMeasurement:
    data = {key: getattr(row, key) for key in _COST}
    data["recorded_at"] = as_utc(row.recorded_at)
    return CostMeasurement.model_validate(data)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without their zone; every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.timezone.utc)
