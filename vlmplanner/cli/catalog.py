"""``vlmplanner catalog …``: list, show, add to, seed and upgrade the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._render import print_json, print_table

if TYPE_CHECKING:
    from vlmplanner.store import Catalog

catalog_app = typer.Typer(help="Read and write the catalog of models, compressors, hardware and results.",
                          no_args_is_help=True)

CatalogUrl = Annotated[
    str | None,
    typer.Option("--catalog", help="Catalog database URL (default: $VLMPLANNER_CATALOG_URL, then a SQLite"
                 " file in your data directory)", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
#: Rows a results table shows unless --limit says otherwise (a terminal of 1,400 rows helps nobody).
TABLE_ROWS = 50


def _open(url: str | None) -> Catalog:
    from vlmplanner.store import open_catalog

    return open_catalog(url)


@catalog_app.command("models")
def models(
    family: Annotated[str | None, typer.Option(help="Only this HF model_type, e.g. llava or qwen2_vl.")] = None,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """List the models in the catalog."""
    with _open(catalog) as store:
        rows = store.models(family=family)
    if json:
        return print_json(rows)
    print_table("Models", [
        ("checkpoint", lambda m: m.checkpoint),
        ("family", lambda m: m.model_type),
        ("LLM (B)", lambda m: f"{m.llm.params_b:g}"),
        ("layers", lambda m: m.llm.num_layers),
        ("hidden", lambda m: m.llm.hidden_size),
        ("visual tokens", lambda m: m.native_visual_tokens),
        ("public", lambda m: "yes" if m.public_checkpoint else "no"),
    ], rows)


@catalog_app.command("compressors")
def compressors(
    kind: Annotated[str | None, typer.Option(help="pre-llm or in-llm.")] = None,
    training: Annotated[str | None, typer.Option(help="training-free or trained.")] = None,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """List the visual-token compressors the catalog knows."""
    with _open(catalog) as store:
        rows = store.compressors(kind=kind, training=training)
    if json:
        return print_json(rows)
    print_table("Compressors", [
        ("name", lambda c: c.name),
        ("method", lambda c: c.display_name),
        ("kind", lambda c: c.kind),
        ("training", lambda c: c.training),
        ("arXiv", lambda c: c.arxiv),
    ], rows)


@catalog_app.command("hardware")
def hardware(catalog: CatalogUrl = None, json: Json = False) -> None:
    """List the hardware profiles (dense peak FLOP/s, bandwidth, memory, price)."""
    with _open(catalog) as store:
        rows = store.hardware_profiles()
    if json:
        return print_json(rows)
    print_table("Hardware", [
        ("name", lambda h: h.name),
        ("device", lambda h: h.display_name),
        ("bf16 TFLOP/s", lambda h: h.peak_bf16_tflops),
        ("GB/s", lambda h: h.memory_bandwidth_gbs),
        ("memory GB", lambda h: h.memory_gb),
        ("$/hour", lambda h: h.price_usd_per_hour),
    ], rows)


@catalog_app.command("benchmarks")
def benchmarks(
    task_family: Annotated[str | None, typer.Option(help="visual-reasoning, ocr-text, captioning or aggregate.")] = None,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """List the benchmarks, their metrics and ranges."""
    with _open(catalog) as store:
        rows = store.benchmarks(task_family=task_family)
    if json:
        return print_json(rows)
    print_table("Benchmarks", [
        ("name", lambda b: b.name),
        ("family", lambda b: b.task_family),
        ("metric", lambda b: b.metric),
        ("range", lambda b: f"{b.min_score:g}–{'' if b.max_score is None else f'{b.max_score:g}'}"),
    ], rows)


@catalog_app.command("results")
def results(
    model: Annotated[str | None, typer.Option(help="A model checkpoint.")] = None,
    compressor: Annotated[str | None, typer.Option(help="A compressor name or alias.")] = None,
    benchmark: Annotated[str | None, typer.Option(help="A benchmark name.")] = None,
    task_family: Annotated[str | None, typer.Option(help="A task family.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Visual tokens.")] = None,
    provenance: Annotated[str | None, typer.Option(help="published, measured or imported.")] = None,
    limit: Annotated[int | None, typer.Option(
        help=f"At most this many rows; 0 for all (default: {TABLE_ROWS} in the table, all with --json).")] = None,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """List quality results with their sources."""
    from vlmplanner.errors import ValidationError

    if limit is not None and limit < 0:
        raise ValidationError(f"--limit must be 0 (all) or a positive number of rows, got {limit}", field="limit",
                              value=limit)
    shown = (None if json else TABLE_ROWS) if limit is None else (limit or None)
    with _open(catalog) as store:
        rows = store.results(model=model, compressor=compressor, benchmark=benchmark, task_family=task_family,
                             visual_tokens=tokens, provenance=provenance, limit=None if shown is None else shown + 1)
    more = shown is not None and len(rows) > shown
    rows = rows[:shown] if more else rows
    if json:
        return print_json(rows)
    print_table("Results", [
        ("model", lambda r: r.model or f"({r.model_label})"),
        ("compressor", lambda r: r.compressor),
        ("tokens", lambda r: r.visual_tokens if r.visual_tokens is not None else r.visual_tokens_label),
        ("benchmark", lambda r: r.benchmark),
        ("score", lambda r: f"{r.score:g}"),
        ("provenance", lambda r: r.provenance + (" (secondary)" if r.secondary else "")),
        ("flags", lambda r: ", ".join(r.flags)),
        ("source", lambda r: r.source if len(r.source) <= 60 else r.source[:59] + "…"),
    ], rows, caption=f"the first {len(rows)} rows; --limit 0 shows all, filters narrow them" if more else "")


@catalog_app.command("show")
def show(
    key: Annotated[str, typer.Argument(metavar="KEY", help="A model checkpoint, compressor, hardware or benchmark name, or a"
                                       " candidate key <checkpoint>+<compressor>@<tokens>.")],
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Show everything the catalog holds about one name or candidate."""
    from vlmplanner.store.lookup import describe

    with _open(catalog) as store:
        found = describe(store, key)
    if json:
        return print_json(found)
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(found, expand_all=False))


@catalog_app.command("add-result")
def add_result(
    model: Annotated[str | None, typer.Option(help="A model checkpoint in the catalog.")] = None,
    compressor: Annotated[str | None, typer.Option(help="A compressor name.")] = None,
    tokens: Annotated[int | None, typer.Option(help="Visual tokens the LLM received.")] = None,
    benchmark: Annotated[str | None, typer.Option(help="A benchmark name.")] = None,
    score: Annotated[float | None, typer.Option(help="The score, on the benchmark's metric.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the number comes from.")] = None,
    provenance: Annotated[str | None, typer.Option(
        help="measured, imported or published (default: measured from flags, imported from --csv).")] = None,
    note: Annotated[str, typer.Option(help="Anything a reader must know.")] = "",
    csv: Annotated[Path | None, typer.Option("--csv", help="Read many results from a CSV file instead (columns:"
                   " model, compressor, visual_tokens, benchmark, score, source).")] = None,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Add one result from flags, or many from a CSV file (all or none)."""
    from vlmplanner.errors import ValidationError
    from vlmplanner.schemas import ResultIn, build

    if csv is not None:
        given = [n for n, v in (("--model", model), ("--compressor", compressor), ("--tokens", tokens),
                                ("--benchmark", benchmark), ("--score", score), ("--source", source)) if v is not None]
        if given:
            raise ValidationError(f"--csv reads every field from the file; drop {', '.join(given)}", field="csv")
        with _open(catalog) as store:
            stored = store.import_results_csv(csv, provenance=provenance or "imported")
    else:
        missing = [n for n, v in (("--model", model), ("--compressor", compressor), ("--tokens", tokens),
                                  ("--benchmark", benchmark), ("--score", score), ("--source", source)) if v is None]
        if missing:
            raise ValidationError(f"missing {', '.join(missing)} (or give --csv FILE)", field=missing[0].lstrip("-"))
        result = build(ResultIn, model=model, compressor=compressor, visual_tokens=tokens, benchmark=benchmark,
                       score=score, source=source, provenance=provenance or "measured", note=note)
        with _open(catalog) as store:
            stored = [store.add_result(result)]
    if json:
        return print_json(stored)
    typer.echo(f"stored {len(stored)} result(s)")


@catalog_app.command("seed")
def seed(
    take_shipped: Annotated[bool, typer.Option(
        "--take-shipped", help="Replace the rows you registered or added that differ from the shipped data"
        " (without it they are kept and listed).")] = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Bring in the data this release ships (idempotent); rows you wrote are never overwritten."""
    from vlmplanner.store import open_catalog

    with open_catalog(catalog, seed=False) as store:
        report = store.seed(take_shipped=take_shipped)
    if json:
        return print_json({"inserted": report.inserted, "updated": report.updated, "unchanged": report.unchanged,
                           "conflicts": report.conflicts})
    print_table("Seed", [
        ("table", lambda t: t),
        ("inserted", lambda t: report.inserted.get(t, 0)),
        ("updated", lambda t: report.updated.get(t, 0)),
        ("unchanged", lambda t: report.unchanged.get(t, 0)),
        ("kept yours", lambda t: len(report.conflicts.get(t, ()))),
    ], list(report.inserted), caption="nothing changed" if not report.changed else "")
    for table, keys in report.conflicts.items():
        shown = "; ".join(keys[:5]) + (f"; and {len(keys) - 5} more" if len(keys) > 5 else "")
        typer.echo(f"conflict: {len(keys)} {table} row(s) you wrote differ from the shipped data and were kept:"
                   f" {shown}", err=True)
    if report.conflicts:
        typer.echo("to take the shipped rows instead: vlmplanner catalog seed --take-shipped", err=True)


@catalog_app.command("upgrade")
def upgrade(catalog: CatalogUrl = None) -> None:
    """Migrate the catalog's schema to this release's version."""
    from vlmplanner.settings import resolve_catalog_url
    from vlmplanner.store.engine import make_engine
    from vlmplanner.store.migrate import upgrade as run_upgrade

    engine = make_engine(resolve_catalog_url(catalog))
    try:
        before, after = run_upgrade(engine)
    finally:
        engine.dispose()
    typer.echo(f"schema {before or '(empty)'} -> {after}" if before != after else f"schema already at {after}")


@catalog_app.command("info")
def info(catalog: CatalogUrl = None, json: Json = False) -> None:
    """Where the catalog is, its schema version, whether its file is intact, and how many rows each table holds."""
    with _open(catalog) as store:
        data = {"url": store.url, "schema": store.schema_revision(), "integrity": store.check_integrity(),
                "counts": store.counts(), "meta": store.meta()}
    if json:
        return print_json(data)
    for key, value in data.items():
        typer.echo(f"{key}: {value}")
