"""From an ImportReport to catalog results: which model, which visual-token count, and the one write.

Each imported score becomes a :class:`~vlmplanner.schemas.ResultIn` with provenance ``imported``
and a ``source`` naming the harness, the model, the run and the metric key, so importing the same
file again updates the same result instead of adding one (idempotent), and two runs of one model
at different budgets stay two results. The visual tokens are taken from the user (``--visual-tokens``),
or inferred where the run says how: a fixed-resolution family always gives its native count; Qwen's
dynamic resolution gives at most ``max_pixels / (patch·merge)²`` per image when the run set
``max_pixels``, which scales every larger image down, so a stock run of such a model is stored as
``downsample`` at that count (also when ``--visual-tokens`` gives it). Without either, the score
is reported, not guessed. All scores are written in one transaction (``Catalog.add_results``):
one bad row and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vlmplanner.errors import UnknownModelError, ValidationError
from vlmplanner.schemas import ResultIn

from .records import ImportedScore, ImportReport, Skipped

if TYPE_CHECKING:
    from vlmplanner.schemas import Benchmark, ModelSpec, QualityResult
    from vlmplanner.store import Catalog

__all__ = ["ImportPlan", "PlannedResult", "plan_import", "store_import", "with_totals"]

#: Totals a benchmark's parts add up to: MME's perception + cognition (the catalog's MME(P+C)).
TOTALS: dict[str, tuple[str, ...]] = {"MME(P+C)": ("MME(P)", "MME-Cognition")}


@dataclass(frozen=True)
class PlannedResult:
    """A result an import would store, the score it comes from and how its visual tokens were found."""

    result: ResultIn
    score: ImportedScore
    tokens_from: str


@dataclass
class ImportPlan:
    """What an import would write (``results``) and what it leaves out, with why."""

    results: list[PlannedResult] = field(default_factory=list)
    left_out: list[Skipped] = field(default_factory=list)
    report: ImportReport = field(default_factory=ImportReport)


def with_totals(scores: Sequence[ImportedScore]) -> list[ImportedScore]:
    """``scores`` plus, for each run that has every part of a total, the total (MME(P+C))."""
    out = list(scores)
    for total, parts in TOTALS.items():
        groups: dict[tuple[str, str, str, str], dict[str, ImportedScore]] = {}
        for s in scores:
            if s.benchmark in parts:
                groups.setdefault((s.harness, s.path, s.run, s.task), {})[s.benchmark] = s
        for found in groups.values():
            if set(found) == set(parts):
                first = found[parts[0]]
                out.append(replace(first, benchmark=total, score=sum(found[p].score for p in parts),
                                   raw=sum(found[p].raw for p in parts), factor=1.0, stderr=None,
                                   metric_key="+".join(found[p].metric_key for p in parts)))
    return out


def plan_import(report: ImportReport, *, models: Sequence[ModelSpec], benchmarks: Sequence[Benchmark],
                model: str | None = None, compressor: str = "none", visual_tokens: int | None = None,
                include_partial: bool = False) -> ImportPlan:
    """The results ``report`` would store in a catalog holding ``models`` and ``benchmarks``.

    ``model`` names the catalog model for every score (when the files name it differently: a local
    path, a VLMEvalKit config key); without it each file's model must match a catalog checkpoint.
    UnknownModelError (before anything is written) when a named model is not in the catalog.
    """
    by_checkpoint = {m.checkpoint.lower(): m for m in models}
    if model is not None and model.lower() not in by_checkpoint:
        raise UnknownModelError(model, [m.checkpoint for m in models], hint="vlmplanner catalog models lists them")
    if visual_tokens is not None and (isinstance(visual_tokens, bool) or not isinstance(visual_tokens, int)
                                      or visual_tokens < 1):
        raise ValidationError(f"visual_tokens must be a positive integer, got {visual_tokens!r}",
                              field="visual_tokens", value=visual_tokens)
    ranges = {b.name: b for b in benchmarks}
    plan = ImportPlan(report=report)
    for score in with_totals(report.scores):
        spec = by_checkpoint.get(model.lower()) if model else _match(score.model, models)
        if spec is None:
            plan.left_out.append(Skipped(score.path, score.task, f"model {score.model!r} is not in the catalog: pass"
                                         " the catalog model (--model), or register it first"))
            continue
        if score.limited and not include_partial:
            plan.left_out.append(Skipped(score.path, score.task, "a partial run (--limit): not comparable with a"
                                         " full run; --include-partial imports it, marked as such"))
            continue
        benchmark = ranges.get(score.benchmark)
        if benchmark is None:
            plan.left_out.append(Skipped(score.path, score.task, f"the catalog has no benchmark {score.benchmark!r}"))
            continue
        if not benchmark.contains(score.score):
            plan.left_out.append(Skipped(score.path, score.task, f"{score.benchmark} {score.score:g} is outside its"
                                         f" range ({benchmark.metric}): the file's scale is not the expected one"))
            continue
        tokens, how = (visual_tokens, "given (--visual-tokens)") if visual_tokens else _tokens(spec, score)
        if tokens is None:
            plan.left_out.append(Skipped(score.path, score.task, how))
            continue
        used = compressor
        if compressor == "none" and _dynamic(spec):
            used = "downsample"   # a token budget on native resolution (max_pixels) is what `downsample@k` does
        plan.results.append(PlannedResult(_result(score, spec, used, tokens, how), score, how))
    return plan


def store_import(catalog: Catalog, report: ImportReport, **options: object) -> tuple[ImportPlan, list[QualityResult]]:
    """Plan the import against ``catalog`` and write every planned result in one transaction."""
    plan = plan_import(report, models=catalog.models(), benchmarks=catalog.benchmarks(), **options)  # type: ignore[arg-type]
    stored = catalog.add_results([p.result for p in plan.results]) if plan.results else []
    return plan, stored


def _match(name: str, models: Sequence[ModelSpec]) -> ModelSpec | None:
    """The catalog model a file names: its checkpoint (any case), or the one whose name after the
    organisation is it (a VLMEvalKit key such as ``Qwen2-VL-7B-Instruct``) when exactly one is."""
    wanted = name.strip().lower()
    if not wanted:
        return None
    exact = [m for m in models if m.checkpoint.lower() == wanted]
    if exact:
        return exact[0]
    tail = [m for m in models if m.checkpoint.rsplit("/", 1)[-1].lower() == wanted.rsplit("/", 1)[-1]]
    return tail[0] if len(tail) == 1 else None


def _dynamic(spec: ModelSpec) -> bool:
    """Whether the model's token count follows each image (Qwen's native resolution)."""
    from vlmplanner.families import get_family, has_family

    return has_family(spec.model_type) and get_family(spec.model_type).token_shares


def _tokens(spec: ModelSpec, score: ImportedScore) -> tuple[int | None, str]:
    """The visual tokens per image the run gave, and how that is known (or why it is not)."""
    if not _dynamic(spec):
        return spec.native_visual_tokens, f"{spec.model_type}'s native count (no compression, and a stock run sets no resolution)"
    pixels = score.settings.get("max_pixels", "")
    try:
        max_pixels = int(float(pixels))
    except ValueError:
        return None, (f"{spec.checkpoint} sets its visual tokens from each image's size and the run names no"
                      " max_pixels: pass --visual-tokens")
    side = spec.vision.patch_size * spec.vision.spatial_merge_size
    return max(1, max_pixels // (side * side)), f"at most max_pixels {max_pixels} / {side}x{side} per image"


def _result(score: ImportedScore, spec: ModelSpec, compressor: str, tokens: int, how: str) -> ResultIn:
    stderr = "" if score.stderr is None else f", stderr {score.stderr:g}"
    samples = "" if score.samples is None else f", {score.samples} samples"
    partial = " PARTIAL RUN (--limit)," if score.limited else ""
    note = (f"imported from {score.path}:{partial} {score.metric_key} = {score.raw:g} x {score.factor:g}{stderr}"
            f"{samples}; visual tokens: {how}")
    return ResultIn(
        model=spec.checkpoint, compressor=compressor, visual_tokens=tokens, benchmark=score.benchmark,
        score=score.score, provenance="imported", note=note, versions=dict(score.versions),
        source=f"{score.harness} {score.model or spec.checkpoint} run {score.run} task {score.task}"
               f" ({score.metric_key})",
    )
