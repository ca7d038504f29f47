"""The limits a budget sets, as arrays over candidates: which fit, and which limit binds when one does not.

One place decides what "over budget" means, so the selection and the reason it gives agree: a
reason never says "over the budget" about FLOPs when the latency limit is the one that binds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vlmplanner.schemas import Budget, Hardware

if TYPE_CHECKING:
    from vlmplanner.cost import CostArrays

__all__ = ["Limit", "budget_limits", "exceeded", "within"]


@dataclass(frozen=True)
class Limit:
    """One limit: each candidate's cost in the limit's unit, and the most allowed."""

    values: np.ndarray
    limit: float
    unit: str  # "{:,.4g} GFLOPs": how one number of this limit reads
    what: str  # what the number is: " per request", " of memory", " end-to-end"
    set_by: str  # what sets the limit: "budget", "latency budget", "that h100-sxm holds"

    def fits(self) -> np.ndarray:
        """True where the cost is known and within the limit (an unknown cost never fits)."""
        return self.values <= self.limit  # NaN compares False

    def describe(self, i: int) -> str:
        """``"45.6 ms end-to-end, over the 30 ms latency budget"`` for candidate ``i``."""
        return (f"{self.unit.format(float(self.values[i]))}{self.what}, over the"
                f" {self.unit.format(self.limit)} {self.set_by}")


def budget_limits(budget: Budget, costs: CostArrays, hardware: Hardware | None) -> list[Limit]:
    """Every limit ``budget`` sets, plus the device's own memory when a hardware profile is given."""
    limits: list[Limit] = []
    if budget.gflops is not None:
        limits.append(Limit(costs.flops / 1e9, budget.gflops, "{:,.4g} GFLOPs", " per request", "budget"))
    if budget.latency_ms is not None:
        latency = costs.prefill_s if budget.latency_kind == "prefill" else costs.latency_s
        limits.append(Limit(latency * 1e3, budget.latency_ms, "{:,.4g} ms", f" {budget.latency_kind}",
                            "latency budget"))
    if budget.memory_gb is not None:
        limits.append(Limit(costs.memory_bytes / 1e9, budget.memory_gb, "{:,.4g} GB", " of memory", "memory budget"))
    if budget.usd_per_1k_requests is not None:
        limits.append(Limit(costs.usd_per_1k, budget.usd_per_1k_requests, "${:,.4g}", " per 1k requests",
                            "budget"))
    if hardware is not None and hardware.memory_gb is not None:
        limits.append(Limit(costs.memory_bytes / 1e9, hardware.memory_gb, "{:,.4g} GB", " of memory",
                            f"that {hardware.name} holds"))
    return limits


def within(limits: list[Limit], size: int) -> np.ndarray:
    """True for the candidates inside every limit."""
    ok = np.ones(size, dtype=bool)
    for limit in limits:
        ok &= limit.fits()
    return ok


def exceeded(limits: list[Limit], i: int) -> list[Limit]:
    """The limits candidate ``i`` breaks, in the order the budget lists them."""
    return [limit for limit in limits if not bool(limit.fits()[i])]
