"""The data shipped in ``catalog/``: found on disk and read into schemas, no database involved.

Installed wheels carry it as ``vlmplanner/_shipped_catalog``; a source checkout reads ``catalog/``
at the repository's top level.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmplanner.errors import CsvFormatError, ShippedDataError, VlmPlannerError
from vlmplanner.schemas import (
    Benchmark,
    CompressorSpec,
    Hardware,
    ModelSpec,
    QualityResult,
    StoredFit,
)
from vlmplanner.schemas._base import Schema, build

from .csvio import read_rows

__all__ = ["FITS_FILE", "PublishedResult", "ShippedCatalog", "ShippedFit", "load_shipped", "shipped_catalog_dir",
           "shipped_digest"]

RESULT_COLUMNS = (
    "model",
    "model_label",
    "compressor",
    "compressor_label",
    "visual_tokens",
    "visual_tokens_label",
    "benchmark",
    "metric",
    "score",
    "task_family",
    "secondary",
    "flags",
    "note",
    "source",
)


def shipped_catalog_dir() -> Path:
    """Where the shipped catalog data lives for this installation."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_shipped_catalog", package.parent / "catalog"):
        if (candidate / "models.csv").is_file():
            return candidate
    raise ShippedDataError(
        "the shipped catalog data (catalog/models.csv) is missing from this installation;"
        " reinstall vlmplanner"
    )


@dataclass(frozen=True)
class PublishedResult:
    """One published row, with the names exactly as its source printed them."""

    model: str | None
    model_label: str
    compressor: str
    compressor_label: str
    visual_tokens: int | None
    visual_tokens_label: str
    benchmark: str
    metric: str
    score: float
    task_family: str
    secondary: bool
    flags: tuple[str, ...]
    note: str
    source: str

    @property
    def natural_key(self) -> tuple[str, str, str, str, str]:
        return (self.model_label, self.compressor_label, self.visual_tokens_label, self.benchmark, self.source)


@dataclass(frozen=True)
class ShippedFit:
    """A scaling law fitted to the shipped results (``scripts/fit_shipped_laws.py`` writes them), so
    a fresh catalog recommends without fitting. ``data_digest`` ties it to the points it rests on."""

    family: str
    compressor: str
    benchmark: str
    data_digest: str
    fit: dict[str, Any]


@dataclass
class ShippedCatalog:
    models: list[ModelSpec] = field(default_factory=list)
    compressors: list[CompressorSpec] = field(default_factory=list)
    hardware: list[Hardware] = field(default_factory=list)
    benchmarks: list[Benchmark] = field(default_factory=list)
    results: list[PublishedResult] = field(default_factory=list)
    fits: list[ShippedFit] = field(default_factory=list)
    digest: str = ""

    def quality_results(self) -> list[QualityResult]:
        """The shipped results as a freshly seeded catalog returns them (ids in the order it stores them)."""
        benchmarks = {b.name: b for b in self.benchmarks}
        return [QualityResult.trusted(
            id=i, model=r.model, model_label=r.model_label, compressor=r.compressor, compressor_label=r.compressor_label,
            visual_tokens=r.visual_tokens, visual_tokens_label=r.visual_tokens_label, benchmark=r.benchmark,
            metric=benchmarks[r.benchmark].metric, task_family=benchmarks[r.benchmark].task_family, score=r.score,
            provenance="published", source=r.source, secondary=r.secondary, flags=tuple(r.flags), note=r.note,
            device="", dtype="", versions={}, recorded_at=None,
        ) for i, r in enumerate(self.results, start=1)]

    def stored_fits(self) -> list[StoredFit]:
        """The shipped fits as the catalog stores them."""
        from vlmplanner import __version__

        return [StoredFit.trusted(
            family=f.family, compressor=f.compressor, benchmark=f.benchmark, data_digest=f.data_digest,
            alpha=float(f.fit["alpha"]), beta=float(f.fit["beta"]), loo_mae_points=f.fit.get("loo_mae_points"),
            n_points=int(f.fit["n_points"]), fit=dict(f.fit), vlmplanner_version=__version__, fitted_at=None,
        ) for f in self.fits]


def _blank_to_none(row: dict[str, str]) -> dict[str, Any]:
    return {key: (None if value == "" else value) for key, value in row.items()}


def _bool(value: str, *, path: Path, line: int, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0", ""):
        return False
    raise CsvFormatError(f"{column} must be true or false, got {value!r}", path=str(path), line=line, field=column)


def _validated(cls: type[Schema], data: dict[str, Any], *, path: Path, line: int) -> Any:
    try:
        return build(cls, data)
    except VlmPlannerError as exc:
        raise CsvFormatError(exc.message, path=str(path), line=line, field=exc.field, value=exc.value) from exc


def read_models(path: Path) -> list[ModelSpec]:
    from .model_columns import MODEL_COLUMNS, MODEL_OPTIONAL_COLUMNS, model_data

    specs = []
    for line, row in read_rows(path, MODEL_COLUMNS, MODEL_OPTIONAL_COLUMNS):
        values: dict[str, Any] = dict(row)
        for column in ("public_checkpoint", "llm_tie_word_embeddings"):
            values[column] = _bool(row[column], path=path, line=line, column=column)
        if row.get("llm_attention_gate") not in (None, ""):   # optional: Qwen3.5's gated attention
            values["llm_attention_gate"] = _bool(row["llm_attention_gate"], path=path, line=line,
                                                 column="llm_attention_gate")
        specs.append(_validated(ModelSpec, model_data(values), path=path, line=line))
    return specs


def read_compressors(path: Path) -> list[CompressorSpec]:
    columns = ("name", "display_name", "kind", "training", "paper", "arxiv", "prune_layer",
               "aliases", "description", "source")
    specs = []
    for line, row in read_rows(path, columns):
        data: dict[str, Any] = {key: row[key] for key in columns}
        data["prune_layer"] = row["prune_layer"] or None
        data["aliases"] = tuple(a.strip() for a in row["aliases"].split("|") if a.strip())
        specs.append(_validated(CompressorSpec, data, path=path, line=line))
    return specs


def read_hardware(path: Path) -> list[Hardware]:
    columns = ("name", "display_name", "kind", "peak_bf16_tflops", "peak_fp16_tflops",
               "peak_fp32_tflops", "memory_gb", "memory_bandwidth_gbs", "price_usd_per_hour",
               "spec_source", "price_source", "note")
    profiles = []
    for line, row in read_rows(path, columns):
        data = _blank_to_none({key: row[key] for key in columns})
        for text_column in ("display_name", "spec_source", "price_source", "note"):
            data[text_column] = row[text_column]
        profiles.append(_validated(Hardware, data, path=path, line=line))
    return profiles


def read_benchmarks(path: Path) -> list[Benchmark]:
    columns = ("name", "metric", "min_score", "max_score", "higher_is_better", "task_family", "description")
    benchmarks = []
    for line, row in read_rows(path, columns):
        data: dict[str, Any] = {key: row[key] for key in columns}
        data["max_score"] = row["max_score"] or None
        data["higher_is_better"] = _bool(row["higher_is_better"], path=path, line=line, column="higher_is_better")
        benchmarks.append(_validated(Benchmark, data, path=path, line=line))
    return benchmarks


def read_published_results(path: Path) -> list[PublishedResult]:
    results = []
    for line, row in read_rows(path, RESULT_COLUMNS):
        try:
            score = float(row["score"])
            tokens = int(row["visual_tokens"]) if row["visual_tokens"] else None
        except ValueError as exc:
            raise CsvFormatError(str(exc), path=str(path), line=line) from exc
        if tokens is not None and tokens <= 0:
            raise CsvFormatError(f"visual_tokens must be positive, got {tokens}", path=str(path), line=line,
                                 field="visual_tokens", value=tokens)
        for column in ("model_label", "compressor", "compressor_label", "visual_tokens_label", "benchmark", "source"):
            if not row[column]:
                raise CsvFormatError(f"{column} is empty", path=str(path), line=line, field=column)
        results.append(
            PublishedResult(
                model=row["model"] or None,
                model_label=row["model_label"],
                compressor=row["compressor"],
                compressor_label=row["compressor_label"],
                visual_tokens=tokens,
                visual_tokens_label=row["visual_tokens_label"],
                benchmark=row["benchmark"],
                metric=row["metric"],
                score=score,
                task_family=row["task_family"],
                secondary=_bool(row["secondary"], path=path, line=line, column="secondary"),
                flags=tuple(f for f in row["flags"].split("|") if f),
                note=row["note"],
                source=row["source"],
            )
        )
    return results


#: The shipped fits, next to the CSVs.
FITS_FILE = "fits.json"


def read_fits(path: Path) -> list[ShippedFit]:
    """The shipped fits; a missing file means none (the planner then fits in memory)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [ShippedFit(family=f["family"], compressor=f["compressor"], benchmark=f["benchmark"],
                           data_digest=f["data_digest"], fit=dict(f["fit"])) for f in data["fits"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ShippedDataError(f"the shipped {path.name} is unreadable ({type(exc).__name__}: {exc});"
                               " reinstall vlmplanner") from exc


def shipped_digest(directory: Path | None = None) -> str:
    """A digest of every shipped data file: it changes when any of them does."""
    directory = directory or shipped_catalog_dir()
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*.csv") if "hf_configs" not in p.parts)
    if (directory / FITS_FILE).is_file():
        files.append(directory / FITS_FILE)
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_shipped(directory: Path | None = None) -> ShippedCatalog:
    """Read every shipped file and check that they agree with each other."""
    directory = directory or shipped_catalog_dir()
    shipped = ShippedCatalog(
        models=read_models(directory / "models.csv"),
        compressors=read_compressors(directory / "compressors.csv"),
        hardware=read_hardware(directory / "hardware.csv"),
        benchmarks=read_benchmarks(directory / "benchmarks.csv"),
        digest=shipped_digest(directory),
    )
    for path in sorted((directory / "results").glob("*.csv")):
        shipped.results.extend(read_published_results(path))
    shipped.fits.extend(read_fits(directory / FITS_FILE))
    check_consistency(shipped)
    return shipped


def check_consistency(shipped: ShippedCatalog) -> None:
    """Every name a result uses exists, every score lies in its metric's range, keys are unique."""
    models = {m.checkpoint for m in shipped.models}
    compressors = {c.name for c in shipped.compressors}
    benchmarks = {b.name: b for b in shipped.benchmarks}
    problems: list[str] = []
    for kind, names in (("model", [m.checkpoint for m in shipped.models]),
                        ("compressor", [c.name for c in shipped.compressors]),
                        ("hardware", [h.name for h in shipped.hardware]),
                        ("benchmark", [b.name for b in shipped.benchmarks])):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"duplicate {kind} name(s): {duplicates}")
    seen: set[tuple[str, ...]] = set()
    for result in shipped.results:
        where = f"{result.model_label} / {result.compressor_label} / {result.benchmark} ({result.source[:60]})"
        if result.model is not None and result.model not in models:
            problems.append(f"unknown model {result.model!r} in {where}")
        if result.compressor not in compressors:
            problems.append(f"unknown compressor {result.compressor!r} in {where}")
        benchmark = benchmarks.get(result.benchmark)
        if benchmark is None:
            problems.append(f"unknown benchmark {result.benchmark!r} in {where}")
        else:
            if not benchmark.contains(result.score):
                problems.append(f"score {result.score} outside {benchmark.name}'s range in {where}")
            if result.metric != benchmark.metric or result.task_family != benchmark.task_family:
                problems.append(f"metric/task family disagree with benchmarks.csv in {where}")
        if result.natural_key in seen:
            problems.append(f"duplicate result {result.natural_key}")
        seen.add(result.natural_key)
    for fit in shipped.fits:
        if fit.compressor not in compressors or fit.benchmark not in benchmarks:
            problems.append(f"fit {fit.family} + {fit.compressor} on {fit.benchmark} names an unknown compressor or"
                            " benchmark")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ShippedDataError(f"the shipped catalog is inconsistent: {shown}")
