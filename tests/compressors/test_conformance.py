"""Every built-in compressor passes the shipped conformance suite (vlmplanner.testing.compressors)."""

from __future__ import annotations

from typing import Any, ClassVar

from _extras import requires_torch

from vlmplanner.compressors import Compressor, get_compressor
from vlmplanner.testing.compressors import CompressorConformance, InLLMCompressorConformance

pytestmark = requires_torch  # every check runs a compressor on tensors


class TestNone(CompressorConformance):
    compressor_name = "none"


class TestPool(CompressorConformance):
    compressor_name = "pool"


class TestClsTopK(CompressorConformance):
    compressor_name = "cls-topk"


class TestVisionZip(CompressorConformance):
    compressor_name = "visionzip"
    token_counts = (1, 4, 10, 23, 24)


class TestVisionZipAllContextual(CompressorConformance):
    """The contextual branch on its own (no dominant tokens)."""

    compressor_name = "visionzip"
    token_counts = (3, 8)

    def make_compressor(self, k: int, grid: tuple[int, int] | None = None) -> Compressor:
        return get_compressor("visionzip", k, dominant=0, **({"grid": grid} if grid else {}))


class TestPruMergePlus(CompressorConformance):
    compressor_name = "prumerge+"


class TestPruMergePlusNoMerge(CompressorConformance):
    compressor_name = "prumerge+"
    options: ClassVar[dict[str, Any]] = {"neighbours": 0}


class TestDivPrune(CompressorConformance):
    compressor_name = "divprune"


class TestQueCC(CompressorConformance):
    """QueCC at the suite's small widths, untrained (allowed explicitly)."""

    compressor_name = "quecc"

    def make_compressor(self, k: int, grid: tuple[int, int] | None = None) -> Compressor:
        return get_compressor("quecc", k, grid=grid or (6, 6), vision_dim=self.dim,
                              multi_dim=self.multi_dim, query_dim=self.query_dim, heads=2,
                              allow_untrained=True, seed=0)


class TestQueCCSingleLayer(TestQueCC):
    """multi_layer=False: keys and values come from the features; no multi-layer input needed."""

    def make_compressor(self, k: int, grid: tuple[int, int] | None = None) -> Compressor:
        return get_compressor("quecc", k, grid=grid or (6, 6), vision_dim=self.dim,
                              query_dim=self.query_dim, heads=2, multi_layer=False,
                              allow_untrained=True, seed=0)


class TestFastV(InLLMCompressorConformance):
    compressor_name = "fastv"
