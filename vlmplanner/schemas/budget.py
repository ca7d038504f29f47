"""Budget: the limits a recommendation must respect, any combination of them."""

from __future__ import annotations

import math
import re
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from vlmplanner.errors import InvalidBudgetError

from ._base import Number, Schema

__all__ = ["Budget"]

_UNITS: dict[str, tuple[str, float]] = {
    "flops": ("gflops", 1e-9),
    "gflops": ("gflops", 1.0),
    "tflops": ("gflops", 1e3),
    "pflops": ("gflops", 1e6),
    "ms": ("latency_ms", 1.0),
    "s": ("latency_ms", 1e3),
    "mb": ("memory_gb", 1e-3),
    "gb": ("memory_gb", 1.0),
    "gib": ("memory_gb", 1.073741824),
    "usd/1k": ("usd_per_1k_requests", 1.0),
    "$/1k": ("usd_per_1k_requests", 1.0),
}
_PATTERN = re.compile(r"^\s*\$?\s*([-+]?[0-9.]+(?:e[-+]?\d+)?|nan|inf)\s*([a-z$/0-9]*)\s*$", re.I)


class Budget(Schema):
    """Per-request limits. Every limit given must be a positive, finite number."""

    error_class: ClassVar[type[InvalidBudgetError]] = InvalidBudgetError

    gflops: Number | None = Field(None, description="FLOPs per request, in GFLOPs")
    latency_ms: Number | None = None
    latency_kind: Literal["prefill", "end-to-end"] = "end-to-end"
    memory_gb: Number | None = None
    usd_per_1k_requests: Number | None = None

    @model_validator(mode="after")
    def _positive_and_present(self) -> Budget:
        limits = {
            "gflops": self.gflops,
            "latency_ms": self.latency_ms,
            "memory_gb": self.memory_gb,
            "usd_per_1k_requests": self.usd_per_1k_requests,
        }
        given = {k: v for k, v in limits.items() if v is not None}
        if not given:
            raise InvalidBudgetError(
                "a budget needs at least one limit: gflops, latency_ms, memory_gb or"
                " usd_per_1k_requests",
                field="budget",
                value=None,
            )
        for field, value in given.items():
            if not math.isfinite(value) or value <= 0:
                raise InvalidBudgetError(
                    f"budget {field} must be a positive, finite number, got {value!r}",
                    field=field,
                    value=value,
                )
        return self

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Read one limit with its unit: ``"1000 GFLOPs"``, ``"250ms"``, ``"24GB"``, ``"$0.5/1k"``."""
        if not isinstance(text, str):
            raise InvalidBudgetError(f"a budget to parse is text with a unit such as '1000 GFLOPs', got"
                                     f" {type(text).__name__} {text!r:.60}", field="budget", value=text)
        match = _PATTERN.match(text)
        unit = match.group(2).lower() if match else ""
        if not match or not unit:
            raise InvalidBudgetError(
                f"budget {text!r} has no unit; write e.g. '1000 GFLOPs', '250 ms', '24 GB' or"
                " '0.5 usd/1k'",
                field="budget",
                value=text,
            )
        if unit not in _UNITS:
            raise InvalidBudgetError(
                f"budget {text!r}: unknown unit {unit!r}; known: {', '.join(sorted(_UNITS))}",
                field="budget",
                value=text,
            )
        field, scale = _UNITS[unit]
        return cls(**{field: float(match.group(1)) * scale})
