"""``evaluate``: the cost of every candidate of a sweep, as arrays the planner filters and ranks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vlmplanner.schemas import CompressorSpec, Hardware, ModelSpec, Workload

from .compute import compute
from .efficiency import Efficiency

__all__ = ["CostArrays", "evaluate"]

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class CostArrays:
    """One float64 entry per candidate.

    ``flops``, ``prefill_flops`` and ``decode_flops`` are per request; ``memory_bytes`` is for the
    whole batch (weights + the batch's KV cache + activations); ``prefill_s`` and ``latency_s``
    (prefill + decode) are for one batch of ``workload.batch_size`` requests; ``usd_per_1k`` is the
    device time of 1,000 requests. Latency is NaN without hardware, money NaN without a price.
    """

    flops: Array
    prefill_flops: Array
    decode_flops: Array
    memory_bytes: Array
    prefill_s: Array
    latency_s: Array
    usd_per_1k: Array

    def __len__(self) -> int:
        return int(self.flops.shape[0])


def evaluate(
    models: Sequence[ModelSpec],
    model_index: np.ndarray[Any, np.dtype[np.integer[Any]]],
    compressors: Sequence[CompressorSpec],
    compressor_index: np.ndarray[Any, np.dtype[np.integer[Any]]],
    visual_tokens: np.ndarray[Any, np.dtype[np.integer[Any]]],
    workload: Workload,
    *,
    hardware: Hardware | None = None,
    dtype: str = "bf16",
    accounting: Literal["full", "paper"] = "full",
    efficiency: Efficiency | None = None,
) -> CostArrays:
    """Cost candidate i = (models[model_index[i]], compressors[compressor_index[i]], visual_tokens[i]).

    Vectorized: the Python work is per model and per compressor, the per-candidate work is numpy.
    Raises InvalidTokenCountError for a count <= 0 or above the model's native count for the
    workload's image, ValidationError for an unknown dtype or accounting, InvalidHardwareError for
    hardware without bandwidth or a peak for the dtype.
    """
    c = compute(models, model_index, compressors, compressor_index, visual_tokens, workload,
                hardware=hardware, dtype=dtype, accounting=accounting, efficiency=efficiency)
    return CostArrays(
        flops=c.total_flops,
        prefill_flops=c.prefill_flops,
        decode_flops=c.decode_flops,
        memory_bytes=c.memory_bytes,
        prefill_s=c.prefill_s,
        latency_s=c.latency_s,
        usd_per_1k=c.usd_per_1k,
    )
