"""Roofline latency: a phase takes the longer of its compute time and its memory-traffic time."""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmplanner.errors import InvalidHardwareError
from vlmplanner.schemas import Hardware

from .dtypes import DType
from .efficiency import Efficiency

__all__ = ["Rates", "hardware_rates", "positive_part_kinked", "positive_part_range", "positive_part_sum",
           "sum_max_linear"]

Array = np.ndarray[Any, np.dtype[np.float64]]


class Rates:
    """Seconds per FLOP and per byte once the efficiency factors are applied."""

    def __init__(self, hardware: Hardware, dtype: DType, efficiency: Efficiency) -> None:
        peak = hardware.peak_tflops(dtype.peak)
        if peak is None:
            raise InvalidHardwareError(
                f"hardware {hardware.name!r} has no peak_{dtype.peak}_tflops, which the roofline"
                f" needs for dtype {dtype.name}",
                field=f"peak_{dtype.peak}_tflops",
                value=hardware.name,
            )
        if hardware.memory_bandwidth_gbs is None:
            raise InvalidHardwareError(
                f"hardware {hardware.name!r} has no memory_bandwidth_gbs, which the roofline needs",
                field="memory_bandwidth_gbs",
                value=hardware.name,
            )
        self.hardware = hardware
        self.efficiency = efficiency
        self.peak_flops = peak * 1e12
        self.bandwidth = hardware.memory_bandwidth_gbs * 1e9
        self.per_flop = 1.0 / (self.peak_flops * efficiency.compute)
        self.per_byte = 1.0 / (self.bandwidth * efficiency.bandwidth)


def hardware_rates(hardware: Hardware | None, dtype: DType, efficiency: Efficiency) -> Rates | None:
    return None if hardware is None else Rates(hardware, dtype, efficiency)


def _arithmetic_sum(first: Array, slope: Array, lo: Array, hi: Array) -> Array:
    """Σ_{j=lo}^{hi-1} (first + slope·j), for hi >= lo."""
    count = hi - lo
    return np.asarray(count * (first + slope * ((lo + hi - 1.0) * 0.5)), dtype=np.float64)


def positive_part_range(d0: Array, d1: Array, lo: Array | float, hi: Array | float) -> Array:
    """Σ_{j=lo}^{hi-1} max(d0 + d1·j, 0), in closed form (lo <= hi, whole numbers).

    A linear function is positive on a suffix of the steps when it rises (from c = ceil(root)) and
    on a prefix when it falls (up to c; at an integer root the excluded step adds 0 anyway), so the
    sum is one arithmetic series over that range. No loop over steps, no branches per candidate.
    """
    d0 = np.asarray(d0, dtype=np.float64)
    d1 = np.broadcast_to(np.asarray(d1, dtype=np.float64), d0.shape)
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), d0.shape)
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), d0.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -d0 / d1  # where d0 + d1·j crosses zero
    c = np.minimum(np.maximum(np.ceil(root), lo), hi)
    rising = d1 > 0
    start = np.where(rising, c, lo)
    end = np.where(rising, hi, c)
    flat = d1 == 0
    if flat.any():  # parallel lines: every step or none
        start = np.where(flat, lo, start)
        end = np.where(flat, np.where(d0 > 0, hi, lo), end)
    return _arithmetic_sum(d0, d1, start, end)


def positive_part_sum(d0: Array, d1: Array, steps: int) -> Array:
    """Σ_{j=0}^{steps-1} max(d0 + d1·j, 0) (``positive_part_range`` over the steps)."""
    return positive_part_range(d0, d1, 0.0, float(steps))


def positive_part_kinked(d0: Array, d1: Array, kinks: list[tuple[Array, Array]], steps: int) -> Array:
    """Σ_{j<steps} max(0, d0 + d1·j - Σ_i drop_i·max(0, j - start_i)) for ``kinks`` (start_i, drop_i):
    a line whose slope falls by drop_i from step start_i on (a sliding window filling up). Summed
    segment by segment between the sorted kinks, each segment one line."""
    n = float(steps)
    d0 = np.asarray(d0, dtype=np.float64)
    if not kinks:
        return positive_part_sum(d0, d1, steps)
    starts = np.stack([np.broadcast_to(np.asarray(s, dtype=np.float64), d0.shape) for s, _ in kinks])
    drops = np.stack([np.broadcast_to(np.asarray(e, dtype=np.float64), d0.shape) for _, e in kinks])
    bounds = np.clip(np.ceil(starts), 0.0, n)
    order = np.argsort(bounds, axis=0)
    bounds = np.take_along_axis(bounds, order, axis=0)
    starts = np.take_along_axis(starts, order, axis=0)
    drops = np.take_along_axis(drops, order, axis=0)
    a = d0.copy()
    b = np.broadcast_to(np.asarray(d1, dtype=np.float64), d0.shape).copy()
    lo = np.zeros_like(d0)
    total = np.zeros_like(d0)
    for i in range(len(kinks)):
        total += positive_part_range(a, b, lo, bounds[i])
        a += drops[i] * starts[i]
        b -= drops[i]
        lo = bounds[i]
    return np.asarray(total + positive_part_range(a, b, lo, np.full_like(d0, n)), dtype=np.float64)


def sum_max_linear(f0: Array, f1: Array, g0: Array, g1: Array, steps: int) -> Array:
    """Σ_{j=0}^{steps-1} max(f0 + f1·j, g0 + g1·j): the sum of g plus the excess of f over g."""
    f0, f1, g0, g1 = (np.asarray(x, dtype=np.float64) for x in (f0, f1, g0, g1))
    n = float(steps)
    return np.asarray(g0 * n + g1 * (n * (n - 1.0) * 0.5) + positive_part_sum(f0 - g0, f1 - g1, steps),
                      dtype=np.float64)
