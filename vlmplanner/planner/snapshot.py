"""A read-only snapshot of what the planner needs from the catalog, loaded once per Planner.

recommend() must be cheap: it reads this snapshot (and tables derived from it) instead of the
database. ``Planner.refresh()`` takes a new snapshot after the catalog changed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vlmplanner.errors import UnknownCompressorError
from vlmplanner.schemas import (
    Benchmark,
    CompressorSpec,
    CostMeasurement,
    Hardware,
    ModelSpec,
    QualityResult,
)

from .laws import LawBook, usable

if TYPE_CHECKING:
    from vlmplanner.store import Catalog

__all__ = ["Snapshot"]

#: Which provenance wins when one candidate has several results on one benchmark.
PROVENANCE_RANK = {"measured": 0, "imported": 1, "published": 2}


@dataclass
class Snapshot:
    models: dict[str, ModelSpec]
    compressors: dict[str, CompressorSpec]
    benchmarks: dict[str, Benchmark]
    hardware: dict[str, Hardware]
    #: (checkpoint, compressor, benchmark) -> visual tokens -> the best-provenance results there
    observed: dict[tuple[str, str, str], dict[int, list[QualityResult]]]
    laws: LawBook
    #: candidate key -> real measurements of its cost (method "measured", status "ok")
    measurements: dict[str, list[CostMeasurement]] = field(default_factory=dict)

    def compressor(self, name: str) -> CompressorSpec:
        """The compressor called ``name`` or one of its aliases."""
        found = self.compressors.get(name) or next((c for c in self.compressors.values() if c.answers_to(name)), None)
        if found is None:
            raise UnknownCompressorError(name, self.compressors, hint="vlmplanner catalog compressors lists them")
        return found

    @classmethod
    def load(cls, catalog: Catalog, *, refit: bool = True) -> Snapshot:
        models = {m.checkpoint: m for m in catalog.models()}
        compressors = {c.name: c for c in catalog.compressors()}
        benchmarks = {b.name: b for b in catalog.benchmarks()}
        hardware = {h.name: h for h in catalog.hardware_profiles()}
        results = [r for r in catalog.results() if usable(r)]
        observed: dict[tuple[str, str, str], dict[int, list[QualityResult]]] = defaultdict(dict)
        for result in results:
            assert result.model is not None and result.visual_tokens is not None
            slot = observed[(result.model, result.compressor, result.benchmark)]
            existing = slot.get(result.visual_tokens)
            rank = PROVENANCE_RANK[result.provenance]
            if not existing or rank < PROVENANCE_RANK[existing[0].provenance]:
                slot[result.visual_tokens] = [result]
            elif rank == PROVENANCE_RANK[existing[0].provenance]:
                existing.append(result)
        laws = LawBook.load(catalog, models, benchmarks, results, refit=refit)
        measurements: dict[str, list[CostMeasurement]] = defaultdict(list)
        for measurement in catalog.cost_measurements():
            if measurement.method == "measured" and measurement.status == "ok":
                measurements[measurement.candidate_key].append(measurement)
        return cls(models, compressors, benchmarks, hardware, dict(observed), laws, dict(measurements))
