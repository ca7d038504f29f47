"""Hardware: what the roofline cost model needs to know about a device, with its sources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat

from ._base import Schema

__all__ = ["Hardware"]


class Hardware(Schema):
    name: str = Field(min_length=1, description="slug, e.g. h100-sxm")
    display_name: str = ""
    kind: Literal["gpu", "cpu", "other"] = "gpu"
    peak_bf16_tflops: PositiveFloat | None = Field(None, description="dense, no sparsity")
    peak_fp16_tflops: PositiveFloat | None = None
    peak_fp32_tflops: PositiveFloat | None = None
    memory_gb: PositiveFloat | None = None
    memory_bandwidth_gbs: PositiveFloat | None = Field(None, description="GB/s")
    price_usd_per_hour: PositiveFloat | None = None
    spec_source: str = ""
    price_source: str = ""
    note: str = ""

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense peak for ``dtype`` (bf16, fp16, fp32)."""
        return {
            "bf16": self.peak_bf16_tflops,
            "bfloat16": self.peak_bf16_tflops,
            "fp16": self.peak_fp16_tflops,
            "float16": self.peak_fp16_tflops,
            "fp32": self.peak_fp32_tflops,
            "float32": self.peak_fp32_tflops,
        }.get(dtype.lower())
