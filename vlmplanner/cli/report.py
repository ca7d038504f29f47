"""``vlmplanner report``: a recommendation's cost report, or ``report catalog``: what the catalog holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .catalog import CatalogUrl
from .plan import (
    Accounting,
    Batch,
    BudgetGflops,
    BudgetLatencyMs,
    BudgetLimits,
    BudgetMemoryGb,
    BudgetUsd,
    Compressor,
    Dtype,
    Family,
    Images,
    IncludeUnrunnable,
    LatencyKind,
    Model,
    OutputTokens,
    TextTokens,
    TrainingFree,
    _budget,
    _planner,
    _workload,
)

Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the report to this file; its suffix picks the format (.html, .md, .json, .csv)."
    " Without it the report is printed (Markdown unless --format says otherwise).", show_default=False)]
Format = Annotated[str | None, typer.Option(
    "--format", help="html, md, json or csv, whatever the output's suffix.", show_default=False)]


def report(
    subject: Annotated[str, typer.Argument(
        help="What to report on: 'recommendation' (the default: the question below) or 'catalog' (what is measured,"
        " where the gaps are; with a .csv output, the stored cost measurements).")] = "recommendation",
    task: Annotated[str | None, typer.Option(
        help="A benchmark (GQA), a task family (visual-reasoning, ocr-text) or a mix ('GQA:1,TextVQA:1');"
        " required for a recommendation report.", show_default=False)] = None,
    budget_gflops: BudgetGflops = None,
    budget_latency_ms: BudgetLatencyMs = None,
    budget_memory_gb: BudgetMemoryGb = None,
    budget_usd_per_1k: BudgetUsd = None,
    budget: BudgetLimits = None,
    latency_kind: LatencyKind = "end-to-end",
    text_tokens: TextTokens = 50,
    output_tokens: OutputTokens = 0,
    batch: Batch = 1,
    images: Images = 1,
    hardware: Annotated[list[str] | None, typer.Option(
        "--hardware", help="A hardware profile to answer on (repeatable, side by side; 'none' for FLOPs and memory"
        " only). Default: h100-sxm.", show_default=False)] = None,
    dtype: Dtype = "bf16",
    accounting: Accounting = "full",
    family: Family = None,
    model: Model = None,
    compressor: Compressor = None,
    training_free: TrainingFree = False,
    include_unrunnable: IncludeUnrunnable = False,
    output: Output = None,
    format: Format = None,
    catalog: CatalogUrl = None,
) -> None:
    """Write a cost report: the recommendation on each hardware profile, the frontier, the breakdown, the
    scaling laws and where every number comes from (or, with 'catalog', what the catalog holds)."""
    from vlmplanner.errors import ValidationError
    from vlmplanner.report.write import check_output, format_of

    kind = subject.strip().lower()
    if kind not in ("recommendation", "catalog"):
        raise ValidationError(f"unknown report {subject!r}; use 'recommendation' (the default) or 'catalog'",
                              field="subject", value=subject)
    if output is not None:  # a bad output fails before anything is computed
        check_output(output)
    name = format_of(output, format)
    if kind == "catalog":
        _no_question(task=task, budget=budget_gflops or budget_latency_ms or budget_memory_gb or budget_usd_per_1k
                     or budget, hardware=hardware, family=family, model=model, compressor=compressor)
        return _catalog_report(catalog, output, name)
    if task is None:
        raise ValidationError("a recommendation report needs --task (a benchmark, a task family or a mix); for a"
                              " summary of the catalog run 'vlmplanner report catalog'", field="task", value=None)
    budget_value = _budget(budget_gflops, budget_latency_ms, budget_memory_gb, budget_usd_per_1k, latency_kind,
                           budget or [])
    profiles = [None if h.strip().lower() == "none" else h for h in (hardware or ["h100-sxm"])]
    with _planner(catalog, "none", dtype, accounting) as planner:
        built = planner.report(task=task, budget=budget_value,
                               workload=_workload(text_tokens, output_tokens, batch, images), hardware=profiles,
                               family=family, model=model, compressor=compressor,
                               training="training-free" if training_free else None,
                               include="all" if include_unrunnable else "runnable")
    _emit(built.render(name), output)


def _no_question(**given: object) -> None:
    from vlmplanner.errors import ValidationError

    for option, value in given.items():
        if value:
            raise ValidationError(f"--{option} asks a question; 'report catalog' summarises the whole catalog and"
                                  " takes only --output, --format and --catalog", field=option, value=value)


def _catalog_report(url: str | None, output: Path | None, name: str) -> None:
    from vlmplanner.report.catalog_summary import summarise_catalog
    from vlmplanner.store import open_catalog

    with open_catalog(url) as store:
        summary = summarise_catalog(store)
    _emit(summary.render(name), output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    from vlmplanner.report.write import write_text

    written = write_text(output, text)
    typer.echo(f"wrote {written} ({len(text.encode()):,} bytes)", err=True)
