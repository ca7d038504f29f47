"""The cost of many candidates at once: pair polynomials built once, evaluated per candidate.

``evaluate`` and ``breakdown`` both call ``compute``; a breakdown is one candidate's row of the
same arrays, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec, Workload

from .dtypes import DType, resolve_dtype
from .efficiency import Efficiency
from .pairs import PairCosts, pair_costs_for
from .poly import Poly
from .roofline import Rates, hardware_rates, positive_part_kinked
from .tables import ModelTable, model_table

__all__ = ["ACCOUNTINGS", "Computed", "compute"]

Array = np.ndarray[Any, np.dtype[np.float64]]
ACCOUNTINGS: tuple[str, ...] = ("full", "paper")


@dataclass(frozen=True)
class Computed:
    """Per-candidate totals, plus the pair polynomials and indexes a breakdown evaluates."""

    prefill_flops: Array
    decode_flops: Array
    total_flops: Array
    memory_bytes: Array
    prefill_s: Array
    decode_s: Array
    latency_s: Array
    usd_per_1k: Array
    pairs: PairCosts
    pair: np.ndarray[Any, np.dtype[np.intp]]
    tokens: Array
    table: ModelTable
    dtype: DType
    rates: Rates | None
    accounting: str

    def component(self, poly: Poly) -> Array:
        """Any pair polynomial (a FLOP component, a memory term) evaluated for every candidate."""
        return poly.at(self.pair, self.tokens)


def _indices(values: Any, name: str, size: int) -> np.ndarray[Any, np.dtype[np.intp]]:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValidationError(f"{name} must be a 1-D array of integers, got dtype {array.dtype} and"
                              f" shape {array.shape}", field=name, value=array.shape)
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = int(array[(array < 0) | (array >= size)][0])
        raise ValidationError(f"{name} holds {bad}, outside 0..{size - 1}", field=name, value=bad)
    return array.astype(np.intp, copy=False)


def _tokens(values: Any, length: int) -> Array:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != length:
        raise ValidationError(f"visual_tokens must be 1-D with one entry per candidate ({length}), got"
                              f" shape {array.shape}", field="visual_tokens", value=array.shape)
    if array.size and not np.issubdtype(array.dtype, np.number):
        raise InvalidTokenCountError(f"visual tokens must be numbers, got dtype {array.dtype}",
                                     field="visual_tokens", value=array.dtype.name)
    tokens = array.astype(np.float64)
    bad = ~(tokens > 0)
    if bad.any():
        value = array[bad][0]
        raise InvalidTokenCountError(f"visual tokens must be positive, got {value!r}",
                                     field="visual_tokens", value=value)
    fractional = tokens != np.floor(tokens)
    if fractional.any():
        value = array[fractional][0]
        raise InvalidTokenCountError(f"visual tokens must be whole numbers, got {value!r}",
                                     field="visual_tokens", value=value)
    return tokens


def _check_native(tokens: Array, native: Array, model_index: np.ndarray[Any, Any], table: ModelTable,
                  workload: Workload) -> None:
    over = tokens > native
    if over.any():
        where = int(np.flatnonzero(over)[0])
        model = table.models[int(model_index[where])]
        image = "the default image" if workload.image_size is None else \
            f"a {workload.image_size[0]}x{workload.image_size[1]} image"
        raise InvalidTokenCountError(
            f"{int(tokens[where])} visual tokens is more than model {model.checkpoint!r} produces for"
            f" {image}: at most {int(native[where])} per image",
            field="visual_tokens", value=int(tokens[where]),
        )


def compute(models: Sequence[ModelSpec], model_index: Any, compressors: Sequence[CompressorSpec],
            compressor_index: Any, visual_tokens: Any, workload: Workload, *,
            hardware: Hardware | None = None, dtype: str = "bf16", accounting: str = "full",
            efficiency: Efficiency | None = None) -> Computed:
    """Cost every candidate (models[model_index[i]], compressors[compressor_index[i]], visual_tokens[i])."""
    kind = resolve_dtype(dtype)
    if accounting not in ACCOUNTINGS:
        raise ValidationError(f"unknown accounting {accounting!r}; known: {', '.join(ACCOUNTINGS)}",
                              field="accounting", value=accounting)
    rates = hardware_rates(hardware, kind, efficiency or Efficiency())
    mi = _indices(model_index, "model_index", len(models))
    ci = _indices(compressor_index, "compressor_index", len(compressors))
    if ci.shape != mi.shape:
        raise ValidationError(f"compressor_index has {ci.shape[0]} entries, model_index {mi.shape[0]}",
                              field="compressor_index", value=ci.shape[0])
    v = _tokens(visual_tokens, mi.shape[0])

    table = model_table(models, workload, kind)
    _check_native(v, table.columns["native"][mi], mi, table, workload)
    pairs = pair_costs_for(table, compressors, workload, accounting, rates)
    pair = mi * len(compressors) + ci

    prefill = pairs.prefill.at(pair, v)
    decode = pairs.decode.at(pair, v)
    batch = float(workload.batch_size)
    if rates is None or pairs.roofline is None:
        prefill_s, decode_s, latency_s, usd = (np.full_like(v, np.nan) for _ in range(4))
    else:
        roof = pairs.roofline
        prefill_s = np.maximum(prefill * (batch * rates.per_flop), roof.prefill_stream_s[pair])
        if accounting == "full" and workload.output_tokens > 0:
            decode_s = roof.base.at(pair, v)
            kinks = [(start.at(pair, v), drop[pair]) for start, drop in roof.kinks]
            decode_s += positive_part_kinked(roof.d0.at(pair, v), roof.d1[pair], kinks, workload.output_tokens)
        else:
            decode_s = np.zeros_like(v)
        latency_s = prefill_s + decode_s
        price = rates.hardware.price_usd_per_hour
        usd = np.full_like(v, np.nan) if price is None else latency_s * (price / 3600.0 / batch * 1000.0)

    return Computed(
        prefill_flops=prefill, decode_flops=decode, total_flops=prefill + decode,
        memory_bytes=pairs.memory["total"].at(pair, v), prefill_s=prefill_s, decode_s=decode_s,
        latency_s=latency_s, usd_per_1k=usd, pairs=pairs, pair=pair, tokens=v, table=table,
        dtype=kind, rates=rates, accounting=accounting,
    )
