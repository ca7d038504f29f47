"""``vlmplanner report catalog``: what the catalog measures, where its gaps are, and its stored
cost measurements as CSV. Reads only; the summary's formats share one set of tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .views import Cell, Table

if TYPE_CHECKING:
    from vlmplanner.schemas import CostMeasurement
    from vlmplanner.store import Catalog

__all__ = ["MEASUREMENT_COLUMNS", "CatalogSummary", "summarise_catalog"]

#: candidates listed by name in a gap table (all of them are in the JSON)
GAP_ROWS = 40
MEASUREMENT_COLUMNS = [
    "id", "candidate_key", "method", "status", "device", "dtype", "batch_size", "text_tokens", "output_tokens",
    "total_flops", "prefill_ms", "prefill_ms_spread", "decode_ms_per_token", "peak_memory_bytes", "flops",
    "versions", "note", "recorded_at",
]


@dataclass
class CatalogSummary:
    url: str
    data_version: str | None
    version: str
    generated_at: dt.datetime
    counts: dict[str, int]
    results_by_provenance: dict[str, int]
    measurements_by_method: dict[str, int]
    #: benchmark -> (task family, models with a result, models without one)
    coverage: dict[str, tuple[str, list[str], list[str]]]
    #: candidates with a quality result but no real (``measured``) cost measurement
    unmeasured: list[str]
    measured_candidates: int
    unpriced_hardware: list[str]
    measurements: list[CostMeasurement]

    def tables(self) -> list[Table]:
        counts = Table("What the catalog holds", ["what", "how many"],
                       [[Cell(k), Cell(f"{v:,}")] for k, v in self.counts.items()])
        provenance = Table("Quality results by provenance", ["provenance", "results"],
                           [[Cell(k, k), Cell(f"{v:,}")] for k, v in sorted(self.results_by_provenance.items())])
        methods = Table("Cost measurements by method", ["method", "rows"],
                        [[Cell(k), Cell(f"{v:,}")] for k, v in sorted(self.measurements_by_method.items())],
                        note="measured: timed on a device; traced/fvcore: FLOPs counted on the model; analytic: the"
                             " cost model's count stored for comparison.")
        coverage = Table("Quality coverage per benchmark", ["benchmark", "task family", "models with results",
                                                            "models without"],
                         [[Cell(b), Cell(fam), Cell(str(len(have))), Cell(", ".join(lack) or "none")]
                          for b, (fam, have, lack) in sorted(self.coverage.items())],
                         note="A model without results on a benchmark can still be ranked there by a fitted law;"
                              " vlmplanner evaluate or import fills the gap with measured numbers.")
        shown = self.unmeasured[:GAP_ROWS]
        gaps = Table("Candidates with quality but no measured cost", ["candidate"], [[Cell(k)] for k in shown],
                     note=f"{len(self.unmeasured):,} of {len(self.unmeasured) + self.measured_candidates:,} candidates"
                          f" with quality have no measured cost (their costs are the cost model's predictions)"
                          + (f"; the first {GAP_ROWS} are listed, the JSON holds all" if len(self.unmeasured) > GAP_ROWS
                             else "") + "; vlmplanner profile measures them.")
        hardware = Table("Hardware profiles without a price", ["hardware"],
                         [[Cell(h)] for h in self.unpriced_hardware],
                         note="Money columns are unavailable on these profiles.")
        return [counts, provenance, methods, coverage, gaps, hardware]

    @property
    def title(self) -> str:
        return "vlmplanner catalog report"

    @property
    def header(self) -> list[tuple[str, str]]:
        return [("catalog", f"{self.url} (data version {self.data_version or 'unknown'})"),
                ("generated", f"{self.generated_at.isoformat()} by vlmplanner {self.version}")]

    def render(self, format: str) -> str:
        from .write import format_of

        name = format_of(None, format)
        if name == "csv":
            return self.measurements_csv()
        if name == "json":
            return json.dumps(self.as_dict(), indent=1, ensure_ascii=False) + "\n"
        if name == "html":
            from .html import environment

            return environment().get_template("catalog.html.j2").render(title=self.title, header=self.header,
                                                                         tables=self.tables())
        from .markdown import escape_markdown, markdown_table

        lines = [f"# {self.title}", "", *(f"- **{k}**: {escape_markdown(v)}" for k, v in self.header), ""]
        for table in self.tables():
            lines += markdown_table(table, 2)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.title, "version": self.version, "generated_at": self.generated_at.isoformat(),
            "catalog": self.url, "data_version": self.data_version, "counts": self.counts,
            "results_by_provenance": self.results_by_provenance,
            "measurements_by_method": self.measurements_by_method,
            "coverage": {b: {"task_family": fam, "models_with_results": have, "models_without": lack}
                         for b, (fam, have, lack) in sorted(self.coverage.items())},
            "candidates_without_measured_cost": self.unmeasured,
            "candidates_with_measured_cost": self.measured_candidates,
            "hardware_without_price": self.unpriced_hardware,
        }

    def measurements_csv(self) -> str:
        """Every stored cost measurement, one row each (``flops`` and ``versions`` as JSON)."""
        from .tables import spreadsheet_safe

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(MEASUREMENT_COLUMNS)
        for m in self.measurements:
            row = m.model_dump(mode="json")
            row["total_flops"] = sum(m.flops.values()) if m.flops else None
            row["flops"] = json.dumps(m.flops, sort_keys=True)
            row["versions"] = json.dumps(m.versions, sort_keys=True)
            writer.writerow([spreadsheet_safe(row.get(column)) for column in MEASUREMENT_COLUMNS])
        return out.getvalue()


def summarise_catalog(catalog: Catalog) -> CatalogSummary:
    from vlmplanner._version import __version__
    from vlmplanner.compressors.registry import list_compressors
    from vlmplanner.schemas import Candidate

    models = catalog.models()
    compressors = catalog.compressors()
    benchmarks = catalog.benchmarks()
    hardware = catalog.hardware_profiles()
    results = catalog.results()
    measurements = catalog.cost_measurements()
    implemented = set(list_compressors())
    with_results: dict[str, set[str]] = defaultdict(set)
    keys: set[str] = set()
    for r in results:
        if r.model is None:
            continue
        with_results[r.benchmark].add(r.model)
        if r.visual_tokens is not None or r.share is not None:
            keys.add(Candidate.trusted(model=r.model, compressor=r.compressor, visual_tokens=r.visual_tokens,
                                       share=r.share).key)
    measured = {m.candidate_key for m in measurements if m.method == "measured" and m.status == "ok"}
    names = sorted(m.checkpoint for m in models)
    coverage: dict[str, tuple[str, list[str], list[str]]] = {b.name: (str(b.task_family), sorted(with_results.get(b.name, ())),
                         [n for n in names if n not in with_results.get(b.name, set())])
                for b in benchmarks if b.name in with_results}
    return CatalogSummary(
        url=catalog.url, data_version=catalog.data_version(), version=__version__,
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        counts={"models": len(models), "of them with a public checkpoint": sum(m.public_checkpoint for m in models),
                "compressors": len(compressors),
                "of them implemented": sum(c.name in implemented for c in compressors),
                "benchmarks": len(benchmarks), "benchmarks with results": len(coverage),
                "hardware profiles": len(hardware), "quality results": len(results),
                "cost measurements": len(measurements), "candidates with quality": len(keys)},
        results_by_provenance=dict(Counter(r.provenance for r in results)),
        measurements_by_method=dict(Counter(m.method for m in measurements)),
        coverage=coverage, unmeasured=sorted(keys - measured), measured_candidates=len(keys & measured),
        unpriced_hardware=sorted(h.name for h in hardware if h.price_usd_per_hour is None),
        measurements=measurements,
    )
