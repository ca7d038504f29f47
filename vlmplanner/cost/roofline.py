"""Roofline latency: a phase takes the longer of its compute time and its memory-traffic time."""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmplanner.errors import InvalidHardwareError
from vlmplanner.schemas import Hardware

from .dtypes import DType
from .efficiency import Efficiency

__all__ = ["Rates", "hardware_rates", "positive_part_sum", "sum_max_linear"]

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


def positive_part_sum(d0: Array, d1: Array, steps: int) -> Array:
    """Σ_{j=0}^{steps-1} max(d0 + d1·j, 0), in closed form.

    A linear function is positive on a suffix of the steps when it rises (from c = ceil(root)) and
    on a prefix when it falls (up to c; at an integer root the excluded step adds 0 anyway), so the
    sum is one arithmetic series over that range. No loop over steps, no branches per candidate.
    """
    n = float(steps)
    d0 = np.asarray(d0, dtype=np.float64)
    d1 = np.broadcast_to(np.asarray(d1, dtype=np.float64), d0.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -d0 / d1  # where d0 + d1·j crosses zero
    c = np.minimum(np.maximum(np.ceil(root), 0.0), n)
    rising = d1 > 0
    lo = c * rising
    hi = c + rising * (n - c)
    flat = d1 == 0
    if flat.any():  # parallel lines: every step or none
        lo[flat] = 0.0
        hi[flat] = np.where(d0[flat] > 0, n, 0.0)
    return _arithmetic_sum(d0, d1, lo, hi)


def sum_max_linear(f0: Array, f1: Array, g0: Array, g1: Array, steps: int) -> Array:
    """Σ_{j=0}^{steps-1} max(f0 + f1·j, g0 + g1·j): the sum of g plus the excess of f over g."""
    f0, f1, g0, g1 = (np.asarray(x, dtype=np.float64) for x in (f0, f1, g0, g1))
    n = float(steps)
    return np.asarray(g0 * n + g1 * (n * (n - 1.0) * 0.5) + positive_part_sum(f0 - g0, f1 - g1, steps),
                      dtype=np.float64)
