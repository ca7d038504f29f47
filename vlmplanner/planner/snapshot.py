"""A read-only snapshot of what the planner needs from the catalog, loaded once per Planner.

recommend() must be cheap: it reads this snapshot (and tables derived from it) instead of the
database. ``Planner.refresh()`` takes a new snapshot after the catalog changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import UnknownCompressorError
from vlmplanner.schemas import (
    Benchmark,
    CompressorSpec,
    CostMeasurement,
    Hardware,
    ModelSpec,
    QualityResult,
    StoredFit,
    Workload,
)

from .laws import LawBook, usable, usable_share

if TYPE_CHECKING:
    from vlmplanner.store import Catalog
    from vlmplanner.store.shipped import ShippedCatalog

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
    #: (checkpoint, compressor, benchmark) -> share of the native tokens -> results there (families
    #: whose token count follows the image, where sources report shares instead of counts)
    observed_shares: dict[tuple[str, str, str], dict[float, list[QualityResult]]] = field(default_factory=dict)

    def compressor(self, name: str) -> CompressorSpec:
        """The compressor called ``name`` or one of its aliases."""
        found = self.compressors.get(name) or next((c for c in self.compressors.values() if c.answers_to(name)), None)
        if found is None:
            raise UnknownCompressorError(name, self.compressors, hint="vlmplanner catalog compressors lists them")
        return found

    def measured_for(self, key: str, workload: Workload) -> list[CostMeasurement]:
        """The real measurements of candidate ``key`` at this workload's text tokens and batch (a
        measurement of another workload is no evidence for this one)."""
        return [m for m in self.measurements.get(key, [])
                if m.text_tokens == workload.text_tokens and m.batch_size == workload.batch_size]

    @classmethod
    def load(cls, catalog: Catalog, *, refit: bool = True) -> Snapshot:
        """What the planner needs from ``catalog``, read once."""
        return cls.build(models=catalog.models(), compressors=catalog.compressors(), benchmarks=catalog.benchmarks(),
                         hardware=catalog.hardware_profiles(), results=catalog.results(),
                         stored_fits=catalog.scaling_fits(), measurements=catalog.cost_measurements(), refit=refit)

    @classmethod
    def from_shipped(cls, shipped: ShippedCatalog, *, refit: bool = True) -> Snapshot:
        """What a catalog seeded with ``shipped`` and nothing else holds, read without creating it:
        the planner's view of a default catalog that does not exist yet (reading writes nothing).
        Results get the ids a fresh catalog gives them, in the order it stores them."""
        return cls.build(models=shipped.models, compressors=shipped.compressors, benchmarks=shipped.benchmarks,
                         hardware=shipped.hardware, results=shipped.quality_results(),
                         stored_fits=shipped.stored_fits(), measurements=[], refit=refit)

    @classmethod
    def build(cls, *, models: Iterable[ModelSpec], compressors: Iterable[CompressorSpec],
              benchmarks: Iterable[Benchmark], hardware: Iterable[Hardware], results: Iterable[QualityResult],
              stored_fits: Iterable[StoredFit], measurements: Iterable[CostMeasurement], refit: bool = True,
              ) -> Snapshot:
        by_checkpoint = {m.checkpoint: m for m in models}
        by_benchmark = {b.name: b for b in benchmarks}
        results = list(results)
        usable_results = [r for r in results if usable(r)]
        observed: dict[tuple[str, str, str], dict[int, list[QualityResult]]] = defaultdict(dict)
        for result in usable_results:
            assert result.model is not None and result.visual_tokens is not None
            _keep_best(observed[(result.model, result.compressor, result.benchmark)], result.visual_tokens, result)
        shares: dict[tuple[str, str, str], dict[float, list[QualityResult]]] = defaultdict(dict)
        for result in results:
            if result.model in by_checkpoint and usable_share(result, by_checkpoint[result.model]):
                assert result.share is not None
                _keep_best(shares[(result.model, result.compressor, result.benchmark)], result.share, result)
        laws = LawBook.build(list(stored_fits), by_checkpoint, by_benchmark, usable_results, refit=refit)
        measured: dict[str, list[CostMeasurement]] = defaultdict(list)
        for measurement in measurements:
            if measurement.method == "measured" and measurement.status == "ok":
                measured[measurement.candidate_key].append(measurement)
        return cls(by_checkpoint, {c.name: c for c in compressors}, by_benchmark, {h.name: h for h in hardware},
                   dict(observed), laws, dict(measured), dict(shares))


def _keep_best(slot: dict[Any, list[QualityResult]], at: Any, result: QualityResult) -> None:
    """Keep the best-provenance results at one token count or share (ties: all of them)."""
    existing = slot.get(at)
    rank = PROVENANCE_RANK[result.provenance]
    if not existing or rank < PROVENANCE_RANK[existing[0].provenance]:
        slot[at] = [result]
    elif rank == PROVENANCE_RANK[existing[0].provenance]:
        existing.append(result)
