"""``vlmplanner profile``: measure what a model costs (FLOPs, latency, memory) into the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._render import print_json, print_table
from .catalog import CatalogUrl, Json

if TYPE_CHECKING:
    from vlmplanner.profiling.sweep import SweepReport

__all__ = ["profile"]


def _int_list(text: str, name: str) -> list[int]:
    from vlmplanner.errors import InvalidTokenCountError, ValidationError

    error = InvalidTokenCountError if name == "tokens" else ValidationError
    field = "visual_tokens" if name == "tokens" else name
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(int(part))
        except ValueError:
            raise error(f"--{name} takes comma-separated positive integers, got {part!r}", field=field,
                        value=part) from None
    if not values:
        raise error(f"--{name} is empty", field=field, value=text)
    return values


def _image_size(text: str | None) -> tuple[int, int] | None:
    from vlmplanner.errors import ValidationError

    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise ValidationError(f"--image-size takes HEIGHTxWIDTH in pixels, e.g. 448x448, got {text!r}",
                              field="image_size", value=text) from None
    if height <= 0 or width <= 0:
        raise ValidationError(f"--image-size must be positive, got {text!r}", field="image_size", value=text)
    return height, width


def profile(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A catalog checkpoint (llava-hf/llava-1.5-7b-hf) or a local"
                                         " checkpoint directory.")],
    compressor: Annotated[str, typer.Option(
        help="The compressor (vlmplanner catalog compressors lists them): it runs through the same seam as load()."
    )] = "none",
    prune_layer: Annotated[int | None, typer.Option(
        min=1, help="In-LLM compressors (fastv): the LLM layer from which tokens are pruned (default: the card's)."
    )] = None,
    compressor_weights: Annotated[Path | None, typer.Option(
        help="A trained compressor's weights (QueCC); without them it runs untrained, at the same cost."
    )] = None,
    tokens: Annotated[str | None, typer.Option(help="Visual tokens per image, comma-separated, e.g."
                                               " 1,4,16,64,144,576 (default: the model's native count).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (cuda:N); required unless --flops-only.")] = None,
    dtype: Annotated[str, typer.Option(help="bf16, fp16 or fp32.")] = "bf16",
    batch: Annotated[str, typer.Option(help="Batch sizes to time, comma-separated, e.g. 1,8.")] = "1",
    flops_only: Annotated[bool, typer.Option("--flops-only", help="Count FLOPs (analytic, and traced on the"
                                             " full-size model without weights); run nothing.")] = False,
    methods: Annotated[str | None, typer.Option(help="Comma-separated subset of analytic, traced, fvcore,"
                                                   " measured (default: analytic,traced,measured; with"
                                                   " --flops-only analytic,traced).")] = None,
    text_tokens: Annotated[int, typer.Option(help="Text tokens in the prompt.")] = 50,
    image_size: Annotated[str | None, typer.Option(help="HEIGHTxWIDTH of the image (default: the family's"
                                                      " default image).")] = None,
    decode_steps: Annotated[int, typer.Option(help="Decode steps timed after each prefill.")] = 8,
    repeats: Annotated[int, typer.Option(help="Timed repeats per configuration.")] = 10,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up repeats.")] = 2,
    cpu_threads: Annotated[int | None, typer.Option(help="torch CPU threads while timing on cpu.")] = None,
    name: Annotated[str | None, typer.Option(help="Record under this checkpoint name (default: MODEL).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Measure again what the catalog already holds.")] = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Profile MODEL: FLOPs three ways, latency and peak memory, each result stored in the catalog.

    Every measurement is committed as soon as it completes; a re-run skips what is stored, so an
    interrupted sweep resumes where it stopped.
    """
    from vlmplanner.store import open_catalog

    token_list = None if tokens is None else _int_list(tokens, "tokens")
    batches = _int_list(batch, "batch")
    method_list = None if methods is None else [m for m in methods.split(",") if m.strip()]
    size = _image_size(image_size)
    if device is None and not flops_only and (method_list is None or "measured" in method_list):
        from vlmplanner.errors import ValidationError

        raise ValidationError("--device is required to measure latency and memory (cpu or cuda); use --flops-only"
                              " to count FLOPs without running the model", field="device", value=None)
    from vlmplanner.profiling.sweep import SweepInterrupted, profile_sweep
    from vlmplanner.profiling.target import ProfileTarget

    with open_catalog(catalog) as store:
        target = ProfileTarget.from_checkpoint(model, catalog=store, name=name)
        if token_list is None:
            token_list = [target.native_tokens(size)]
        try:
            report = _run(profile_sweep, target, token_list, store, quiet=json, compressor=compressor,
                          device=device, dtype=dtype, batch_sizes=batches, methods=method_list,
                          flops_only=flops_only, text_tokens=text_tokens, image_size=size,
                          warmup=warmup, repeats=repeats, decode_steps=decode_steps, force=force,
                          cpu_threads=cpu_threads,
                          compressor_options=None if prune_layer is None else {"prune_layer": prune_layer},
                          compressor_weights=None if compressor_weights is None else str(compressor_weights))
        except SweepInterrupted as stop:
            _summary(stop.report, json)
            typer.echo(f"interrupted: {stop.report.done} measurement(s) were stored; run the same command again"
                       " to resume", err=True)
            raise typer.Exit(130) from None  # as a shell reports a process ended by Ctrl-C
    _summary(report, json)
    if report.failed:
        from vlmplanner.errors import VlmPlannerError

        first_unit, first_error = report.failed[0]
        raise VlmPlannerError(f"{len(report.failed)} measurement(s) failed and were stored with status 'failed'"
                              f" (a re-run tries them again); first: {first_unit}: {first_error}")


def _run(sweep: Any, target: Any, tokens: list[int], store: Any, *, quiet: bool, **options: Any) -> SweepReport:
    """Run the sweep with a rich progress bar (started at the first unit, so that input errors,
    raised before anything runs, print alone)."""
    if quiet:
        return sweep(target, tokens, catalog=store, **options)  # type: ignore[no-any-return]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    task: list[Any] = []

    def progress(event: str, unit: Any, index: int, total: int) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(f"profiling {target.name}", total=total))
        verb = {"start": "running", "done": "stored", "skip": "already stored"}[event]
        label = unit.candidate_key.rsplit("+", 1)[-1]
        bar.update(task[0], completed=index + (event != "start"), description=f"{verb}: {label} {unit.method}"
                   + (f" batch {unit.batch_size}" if unit.method == "measured" else ""))

    try:
        return sweep(target, tokens, catalog=store, progress=progress, **options)  # type: ignore[no-any-return]
    finally:
        if task:
            bar.stop()


def _fmt(value: float | None, scale: float = 1.0, digits: int = 4) -> str:
    return "–" if value is None else f"{value * scale:,.{digits}g}"


def _summary(report: SweepReport, json: bool) -> None:
    from vlmplanner.profiling.conventions import prefill_flops

    if json:
        return print_json({"target": report.target, "measurements": report.measurements,
                           "skipped": [str(u) for u in report.skipped],
                           "failed": [{"unit": str(u), "error": e} for u, e in report.failed],
                           "interrupted": report.interrupted})
    devices = sorted({m.device for m in report.measurements if m.method == "measured"})
    print_table(f"Profile: {report.target}", [
        ("compressor@tokens", lambda m: m.candidate_key.rsplit("+", 1)[-1]), ("method", lambda m: m.method),
        ("status", lambda m: m.status), ("batch", lambda m: m.batch_size),
        ("prefill GFLOPs", lambda m: _fmt(prefill_flops(m.flops), 1e-9) if m.flops else "–"),
        ("decode step GFLOPs", lambda m: _fmt(m.flops.get("decode_step"), 1e-9) if m.flops else "–"),
        ("prefill ms", lambda m: _fmt(m.prefill_ms)), ("decode ms/token", lambda m: _fmt(m.decode_ms_per_token)),
        ("peak GiB", lambda m: _fmt(None if m.peak_memory_bytes is None else m.peak_memory_bytes / 2**30, 1, 3)),
    ], report.measurements, caption=f"{report.done} stored, {len(report.skipped)} already stored (skipped),"
                                    f" {len(report.failed)} failed" + (f"; measured on {', '.join(devices)}"
                                                                       if devices else ""))
