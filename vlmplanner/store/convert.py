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

_LLM = ("name", "params_b", "num_layers", "hidden_size", "num_heads", "num_kv_heads",
        "intermediate_size", "vocab_size", "tie_word_embeddings")
_VISION = ("name", "image_size", "patch_size", "num_layers", "hidden_size", "num_heads",
           "intermediate_size", "spatial_merge_size")
_MODEL_TOP = ("checkpoint", "model_type", "display_name", "projector", "native_visual_tokens",
              "public_checkpoint", "source", "note")
#: Architecture numbers only some families have: empty (None) for the rest.
_LLM_OPTIONAL = ("head_dim", "sliding_window", "sliding_layers")
_MOE = ("num_experts", "experts_per_token", "expert_intermediate_size", "layers", "shared_expert_intermediate_size")
_VISION_OPTIONAL = ("deepstack_layers", "position_embeddings")

#: A ModelSpec as flat columns (the ``models`` table and models.csv): required, then optional.
MODEL_COLUMNS: tuple[str, ...] = (*_MODEL_TOP, *(f"llm_{k}" for k in _LLM), *(f"vision_{k}" for k in _VISION))
MODEL_OPTIONAL_COLUMNS: tuple[str, ...] = (*(f"llm_{k}" for k in _LLM_OPTIONAL), *(f"llm_moe_{k}" for k in _MOE),
                                           *(f"vision_{k}" for k in _VISION_OPTIONAL))


def model_values(spec: ModelSpec) -> dict[str, Any]:
    """A ModelSpec as flat columns; the optional ones None where the spec has its default."""
    values = {key: getattr(spec, key) for key in _MODEL_TOP}
    llm, vision = spec.llm, spec.vision
    values.update({f"llm_{key}": getattr(llm, key) for key in _LLM})
    values.update({f"vision_{key}": getattr(vision, key) for key in _VISION})
    values["llm_head_dim"] = None if llm.head_dim == llm.hidden_size // llm.num_heads else llm.head_dim
    values["llm_sliding_window"] = llm.sliding_window
    values["llm_sliding_layers"] = llm.sliding_layers or None
    values.update({f"llm_moe_{key}": None if llm.moe is None else getattr(llm.moe, key) for key in _MOE})
    values.update({f"vision_{key}": getattr(vision, key) or None for key in _VISION_OPTIONAL})
    return values


def model_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat columns (an ORM row's, a CSV row's) as ModelSpec's nested data; an optional column that
    is absent, None or empty is left out (the schema's default)."""
    def given(key: str) -> bool:
        return values.get(key) not in (None, "")

    data: dict[str, Any] = {key: values[key] for key in _MODEL_TOP}
    data["llm"] = {key: values[f"llm_{key}"] for key in _LLM}
    data["llm"].update({key: values[f"llm_{key}"] for key in _LLM_OPTIONAL if given(f"llm_{key}")})
    if any(given(f"llm_moe_{key}") for key in _MOE):
        data["llm"]["moe"] = {key: values[f"llm_moe_{key}"] for key in _MOE if given(f"llm_moe_{key}")}
    data["vision"] = {key: values[f"vision_{key}"] for key in _VISION}
    data["vision"].update({key: values[f"vision_{key}"] for key in _VISION_OPTIONAL if given(f"vision_{key}")})
    return data


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
