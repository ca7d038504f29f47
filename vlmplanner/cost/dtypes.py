"""Bytes per number for each supported dtype, and which hardware peak a dtype computes at."""

from __future__ import annotations

from dataclasses import dataclass

from vlmplanner.errors import ValidationError

__all__ = ["DTYPES", "DType", "resolve_dtype"]


@dataclass(frozen=True)
class DType:
    """How a dtype is stored and computed.

    ``cache_bytes`` covers the KV cache and activations. int8 is weight-only quantization: the
    weights are 1 byte, but the cache, the activations and the matmuls stay 16-bit, so it computes
    at the bf16 peak.
    """

    name: str
    weight_bytes: int
    cache_bytes: int
    peak: str


DTYPES: dict[str, DType] = {
    "bf16": DType("bf16", 2, 2, "bf16"),
    "fp16": DType("fp16", 2, 2, "fp16"),
    "fp32": DType("fp32", 4, 4, "fp32"),
    "int8": DType("int8", 1, 2, "bf16"),
}
_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}


def resolve_dtype(dtype: str) -> DType:
    """The DType for a name (``bf16``, ``bfloat16``, ...); unknown names are a ValidationError."""
    key = _ALIASES.get(dtype.strip().lower(), dtype.strip().lower()) if isinstance(dtype, str) else None
    if key not in DTYPES:
        raise ValidationError(
            f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}"
            f" (aliases: {', '.join(sorted(_ALIASES))})",
            field="dtype",
            value=dtype,
        )
    return DTYPES[key]
