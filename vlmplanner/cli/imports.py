"""``vlmplanner import lmms-eval|vlmevalkit PATH…``: store another harness's scores as imported results."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from ._render import print_json, print_table
from .catalog import CatalogUrl, Json

if TYPE_CHECKING:
    from vlmplanner.imports.records import ImportReport
    from vlmplanner.imports.store import ImportPlan

import_app = typer.Typer(help="Import scores from lmms-eval or VLMEvalKit result files as imported results.",
                         no_args_is_help=True)

Paths = Annotated[list[str], typer.Argument(metavar="PATH...", help="Result files or output folders (searched).")]
Model = Annotated[str | None, typer.Option(
    help="The catalog model the files are runs of (when they name it differently: a local path, a config key).")]
Compressor = Annotated[str, typer.Option(help="The compressor the runs used (a stock harness run: none).")]
Tokens = Annotated[int | None, typer.Option(
    "--visual-tokens", help="Visual tokens per image the runs gave (default: inferred where the run says how).")]
Partial = Annotated[bool, typer.Option("--include-partial", help="Also import runs cut by --limit (marked as partial).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would be stored; write nothing.")]
Format = Annotated[str, typer.Option("--format", help="The importer: lmms-eval, vlmevalkit, or a plug-in's name.",
                                     show_default=False)]


def _command(name: str | None, doc: str) -> Callable[..., None]:
    """An import command reading with the importer ``name`` (None: the one ``--format`` names)."""

    def run(paths: list[str], form: str, model: str | None, compressor: str, visual_tokens: int | None,
            include_partial: bool, dry_run: bool, catalog: str | None, json: bool) -> None:
        from vlmplanner.imports.registry import reader

        _import(reader(form)(paths), model=model, compressor=compressor, visual_tokens=visual_tokens,
                include_partial=include_partial, dry_run=dry_run, catalog=catalog, json=json)

    if name is None:
        def command(paths: Paths, format: Format, model: Model = None, compressor: Compressor = "none",
                    visual_tokens: Tokens = None, include_partial: Partial = False, dry_run: DryRun = False,
                    catalog: CatalogUrl = None, json: Json = False) -> None:
            run(paths, format, model, compressor, visual_tokens, include_partial, dry_run, catalog, json)
    else:
        def command(paths: Paths, model: Model = None, compressor: Compressor = "none",  # type: ignore[misc]
                    visual_tokens: Tokens = None, include_partial: Partial = False, dry_run: DryRun = False,
                    catalog: CatalogUrl = None, json: Json = False) -> None:
            run(paths, name, model, compressor, visual_tokens, include_partial, dry_run, catalog, json)

    command.__doc__ = doc
    return command


import_app.command("lmms-eval")(_command(
    "lmms-eval", "Import lmms-eval results (v0.1 to v0.7 layouts: results.json or <date>_results.json)."))
import_app.command("vlmevalkit")(_command(
    "vlmevalkit", "Import VLMEvalKit results (flat and run-folder layouts; a work dir, a model folder or score files)."))
import_app.command("results")(_command(
    None, "Import results in any format an importer reads: lmms-eval, vlmevalkit, or one a plug-in adds"
    " (entry-point group vlmplanner.importers)."))


def _import(report: ImportReport, *, model: str | None, compressor: str, visual_tokens: int | None,
            include_partial: bool, dry_run: bool, catalog: str | None, json: bool) -> None:
    from vlmplanner.errors import ValidationError
    from vlmplanner.imports.store import plan_import

    options = {"model": model, "compressor": compressor, "visual_tokens": visual_tokens,
               "include_partial": include_partial}
    if dry_run:   # read through the planner's snapshot: a catalog that does not exist yet is not created
        from vlmplanner.planner import Planner

        snapshot = Planner(catalog).snapshot
        snapshot.compressor(compressor)
        plan = plan_import(report, models=list(snapshot.models.values()),
                           benchmarks=list(snapshot.benchmarks.values()), **options)  # type: ignore[arg-type]
        stored: list[object] = []
    else:
        from vlmplanner.imports.store import store_import
        from vlmplanner.store import open_catalog

        with open_catalog(catalog) as store:
            store.compressor(compressor)
            plan, stored = store_import(store, report, **options)   # type: ignore[assignment]
    if json:
        print_json(_as_json(plan, dry_run=dry_run, stored=len(stored)))
    else:
        _print(plan, dry_run=dry_run, stored=len(stored))
    if not plan.results and (plan.left_out or report.problems or report.unknown_tasks):
        raise ValidationError("nothing imported: every score was left out (see above)", field="path",
                              value=None)


def _as_json(plan: ImportPlan, *, dry_run: bool, stored: int) -> dict[str, object]:
    return {
        "dry_run": dry_run,
        "stored": stored,
        "results": [{**p.result.model_dump(mode="json"), "harness": p.score.harness, "task": p.score.task,
                     "metric_key": p.score.metric_key, "raw": p.score.raw, "scale_factor": p.score.factor,
                     "visual_tokens_from": p.tokens_from, "run": p.score.run, "file": p.score.path,
                     "partial": p.score.limited} for p in plan.results],
        "left_out": [vars(s) for s in plan.left_out],
        "partial": [vars(s) for s in plan.report.partial],
        "unknown_tasks": [vars(s) for s in plan.report.unknown_tasks],
        "problems": [vars(s) for s in plan.report.problems],
    }


def _print(plan: ImportPlan, *, dry_run: bool, stored: int) -> None:
    title = "Would store (dry run: nothing written)" if dry_run else f"Stored {stored} imported result(s)"
    print_table(title, [
        ("model", lambda p: p.result.model),
        ("benchmark", lambda p: p.result.benchmark),
        ("score", lambda p: f"{p.result.score:g}"),
        ("from", lambda p: f"{p.score.task} {p.score.metric_key} = {p.score.raw:g} x {p.score.factor:g}"),
        ("visual tokens", lambda p: f"{p.result.visual_tokens} ({p.tokens_from})"),
        ("run", lambda p: p.score.run + (" PARTIAL" if p.score.limited else "")),
    ], plan.results)
    for heading, lines in (("left out", plan.left_out), ("partial or superseded", plan.report.partial),
                           ("unknown tasks (not guessed)", plan.report.unknown_tasks),
                           ("problems", plan.report.problems)):
        for line in lines:
            typer.echo(f"{heading}: {line.path}: {line.what}: {line.reason}", err=True)
