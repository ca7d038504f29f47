"""Profile real Hugging Face VLMs: FLOPs three ways, latency and peak memory, sweeps into the catalog.

- ``ProfileTarget``: what to profile (a catalog checkpoint, a local checkpoint, a config.json dict,
  or an in-memory bundle such as ``get_family("llava").build_tiny()``).
- ``count_flops(target, tokens, method="analytic" | "traced" | "fvcore")``: per-component FLOPs.
- ``measure_latency(target, tokens, device=..., dtype=...)``: prefill (time to first token) and
  decode per token, medians and spread, and peak memory, on ``cpu`` or ``cuda``.
- ``profile_sweep(target, [1, 4, 16, 64, 144, 576], ...)``: every method over token counts and
  batch sizes, each result committed to the catalog as it completes; re-runs skip what is stored.

Nothing here imports torch until a function that needs it runs; docs/profiling.md has the details.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conventions import COMPONENTS, CONVENTIONS, METHODS
    from .flops import FlopCount, count_flops
    from .sweep import SweepInterrupted, SweepReport, SweepUnit, profile_sweep
    from .target import ProfileTarget, config_from_spec
    from .timing import Timing, measure_latency

__all__ = [
    "COMPONENTS",
    "CONVENTIONS",
    "METHODS",
    "FlopCount",
    "ProfileTarget",
    "SweepInterrupted",
    "SweepReport",
    "SweepUnit",
    "Timing",
    "config_from_spec",
    "count_flops",
    "measure_latency",
    "profile_sweep",
]

_WHERE = {
    "COMPONENTS": "conventions", "CONVENTIONS": "conventions", "METHODS": "conventions",
    "FlopCount": "flops", "count_flops": "flops",
    "SweepInterrupted": "sweep", "SweepReport": "sweep", "SweepUnit": "sweep", "profile_sweep": "sweep",
    "ProfileTarget": "target", "config_from_spec": "target",
    "Timing": "timing", "measure_latency": "timing",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vlmplanner.profiling' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
