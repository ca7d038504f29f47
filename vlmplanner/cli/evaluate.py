"""``vlmplanner evaluate KEY --benchmark NAME --data PATH``: measure a configuration's accuracy locally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ._load_options import Checkpoint, CompressorWeights, Device, DType, Key, api_key_from
from ._render import print_json
from .catalog import CatalogUrl, Json


def evaluate(
    key: Key,
    benchmark: Annotated[str, typer.Option(help="GQA, TextVQA, VQAv2, POPE, MME, MMBench, ScienceQA-IMG, MMStar,"
                                                " DocVQA, ChartQA or OCRBench.")],
    data: Annotated[Path, typer.Option(
        help="A datasets folder saved with save_to_disk, .parquet file(s), or a .jsonl file with its images.")],
    split: Annotated[str | None, typer.Option(help="The split of a saved DatasetDict.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N samples (the result says so).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Prompts per generate() call.")] = 1,
    checkpoint: Checkpoint = None,
    device: Device = "cpu",
    dtype: DType = None,
    compressor_weights: CompressorWeights = None,
    answers_dir: Annotated[Path | None, typer.Option(
        help="Where the answers file goes (default: <data dir>/evaluations); a re-run continues it.")] = None,
    export: Annotated[Path | None, typer.Option(help="Also write the per-sample answers here (JSON lines).")] = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Print the result; do not store it in the catalog.")] = False,
    endpoint: Annotated[str | None, typer.Option(
        help="Evaluate a served model at this OpenAI-compatible URL (…/v1) instead of loading KEY here.")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        help="The environment variable holding the endpoint's API key.")] = None,
    served_model: Annotated[str | None, typer.Option(
        help="The model name the endpoint serves (default: KEY).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Endpoint requests in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds to wait for one endpoint answer.")] = 120.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a failed endpoint request (with backoff).")] = 3,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Run a configuration on a local benchmark dataset and store the measured accuracy.

    Answers are saved as they come: a run stopped with Ctrl-C continues where it stopped."""
    from vlmplanner.evaluation.benchmarks import definition
    from vlmplanner.evaluation.data import load_dataset
    from vlmplanner.evaluation.run import export_answers
    from vlmplanner.pipeline import resolve
    from vlmplanner.pipeline.api import _load_plan

    bench = definition(benchmark)                       # every check before the model loads
    dataset = load_dataset(data, bench, split=split)
    options = {"limit": limit, "batch": batch, "answers_dir": answers_dir}
    if endpoint is not None:
        with _endpoint_source(key, endpoint, catalog=catalog, api_key_env=api_key_env, served_model=served_model,
                              concurrency=concurrency, timeout=timeout, retries=retries) as source:
            run = _run(source, bench.name, dataset, options, store=not no_store, catalog=catalog, quiet=json)
    else:
        plan = resolve(key, catalog=catalog, checkpoint=checkpoint, compressor_weights=compressor_weights,
                       device=device, dtype=dtype)
        with _load_plan(plan) as pipeline:
            run = _run(pipeline, bench.name, dataset, options, store=not no_store, catalog=catalog, quiet=json)
    if export is not None:
        export_answers(run, export)
    if json:
        return print_json({"key": run.key, "benchmark": run.benchmark, "samples": len(run.answers),
                           "limited": run.limited, "scores": run.aggregate.scores, "stderr": run.aggregate.stderr,
                           "visual_tokens": run.visual_tokens, "dataset": {"path": run.dataset.path,
                           "kind": run.dataset.kind, "fingerprint": run.dataset.fingerprint, "split": run.dataset.split},
                           "answers_file": str(run.answers_file), "stored": run.stored or run.results})
    tokens = "" if run.visual_tokens is None else f", {run.visual_tokens:.1f} visual tokens reached the LLM per sample"
    for name, score in run.aggregate.scores.items():
        err = run.aggregate.stderr.get(name)
        typer.echo(f"{name}: {score:.4g}" + (f" ± {err:.2g}" if err is not None else "")
                   + f" (measured, {len(run.answers)} samples{', limited' if run.limited else ''}{tokens})")
    typer.echo(f"answers: {run.answers_file}" + (" (not stored: --no-store)" if no_store else ""))


def _run(source: Any, benchmark: str, dataset: Any, options: dict[str, Any], *, store: bool, catalog: str | None,
         quiet: bool) -> Any:
    """One evaluation with a progress bar, stored in the catalog at ``catalog`` when ``store``."""
    from vlmplanner.evaluation.run import evaluate as run_evaluation

    with _progress(quiet) as progress:
        if not store:
            return run_evaluation(source, benchmark, dataset, progress=progress, **options)
        from vlmplanner.store import open_catalog

        with open_catalog(catalog) as opened:
            return run_evaluation(source, benchmark, dataset, catalog=opened, progress=progress, **options)


def _endpoint_source(key: str, endpoint: str, *, catalog: str | None, api_key_env: str | None,
                     served_model: str | None, concurrency: int, timeout: float, retries: int) -> Any:
    """The endpoint as an answer source, its results filed under KEY's catalog model (checked first)."""
    from vlmplanner.evaluation.endpoint import EndpointSource
    from vlmplanner.evaluation.run import Configuration
    from vlmplanner.planner import Planner
    from vlmplanner.schemas import Candidate

    candidate = Candidate.parse(key)
    snapshot = Planner(catalog).snapshot
    spec = snapshot.models.get(candidate.model)
    if spec is None:
        from vlmplanner.errors import UnknownModelError

        raise UnknownModelError(candidate.model, snapshot.models, hint="vlmplanner catalog models lists them")
    snapshot.compressor(candidate.compressor)
    api_key = api_key_from(api_key_env)
    configuration = Configuration(candidate.key, spec.checkpoint, candidate.compressor,
                                  candidate.tokens_for(spec.native_visual_tokens), f"endpoint {endpoint}", "")
    return EndpointSource(endpoint, configuration, model=served_model, api_key=api_key, concurrency=concurrency,
                          timeout_s=timeout, retries=retries)


class _progress:
    """A rich progress bar on stderr (none with --json), as a callback (answered, total)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("evaluating", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *_exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
