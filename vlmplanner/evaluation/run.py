"""``evaluate``: run a configuration on a local benchmark dataset and store a measured result.

Answers are appended to an answers file (JSON lines) as each batch finishes, so a run stopped by
Ctrl-C, a crash or a closed laptop loses at most the batch in flight, and running the same
evaluation again continues where it stopped (the file is keyed by the configuration, the benchmark,
the dataset's fingerprint and the prompt version, so a different prompt or dataset never resumes
into the wrong file). Each answer records the visual tokens that reached the LLM for it. When every
sample (or the ``limit`` first ones) has an answer, the run is scored (``scoring``) and stored as a
``measured`` result with its provenance: dataset fingerprint, sample count and whether it was
limited, standard error, prompt version, versions, device, date and the mean visual tokens.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vlmplanner.errors import ValidationError

from .benchmarks import BenchmarkDefinition, definition
from .data import LocalDataset, load_dataset
from .scoring import Aggregate, Sample, aggregate, score_sample

if TYPE_CHECKING:
    from vlmplanner.pipeline.runner import VLMPipeline
    from vlmplanner.schemas import QualityResult, ResultIn
    from vlmplanner.store import Catalog

__all__ = ["Answer", "AnswerSource", "Configuration", "Evaluation", "PipelineSource", "answers_path", "evaluate",
           "export_answers", "read_answers"]

#: Progress callback: (answered so far, to answer in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Answer:
    """One sample's answer, as the answers file keeps it."""

    id: str
    prediction: str
    score: float
    visual_tokens: int


@dataclass
class Evaluation:
    """What a run gave: its answers, its catalog scores, and what was stored."""

    key: str
    benchmark: str
    dataset: LocalDataset
    answers: list[Answer]
    aggregate: Aggregate
    limited: bool
    answers_file: Path
    results: list[ResultIn] = field(default_factory=list)
    stored: list[QualityResult] = field(default_factory=list)

    @property
    def visual_tokens(self) -> float | None:
        """Mean visual tokens per sample that reached the LLM (an in-LLM compressor: its first layers);
        None when the source did not say (an endpoint other than ``vlmplanner serve``)."""
        counted = [a.visual_tokens for a in self.answers if a.visual_tokens >= 0]
        return sum(counted) / len(counted) if counted else None


def answers_path(folder: Path, key: str, bench: BenchmarkDefinition, dataset: LocalDataset) -> Path:
    """Where the answers of this (configuration, benchmark, dataset, prompt) are kept."""
    slug = re.sub(r"[^A-Za-z0-9_.@%+-]+", "_", key).strip("_")
    return folder / f"{slug}--{bench.name}--{dataset.fingerprint}--prompt{bench.prompt.version}.jsonl"


def read_answers(path: Path) -> dict[str, Answer]:
    """The answers already in ``path`` (a line cut short by a crash is ignored: it is asked again)."""
    found: dict[str, Answer] = {}
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            found[str(row["id"])] = Answer(str(row["id"]), str(row["prediction"]), float(row["score"]),
                                           int(row["visual_tokens"]))
        except (ValueError, KeyError, TypeError):
            continue
    return found


@dataclass(frozen=True)
class Configuration:
    """What a stored result is a result of: the catalog model, compressor and k, and where it ran."""

    key: str
    checkpoint: str
    compressor: str
    visual_tokens: int
    device: str
    dtype: str


class AnswerSource(Protocol):
    """Where answers come from: a pipeline in this process, or a served endpoint."""

    #: names the answers file: the same source and data resume into it
    name: str
    configuration: Configuration

    def answer(self, images: list[Any], texts: list[str], max_new_tokens: int) -> list[tuple[str, int]]:
        """(prediction, visual tokens that reached the LLM; -1 when the source does not say) per prompt."""
        ...


class PipelineSource:
    """Answers from a loaded pipeline, prompts in the model's chat format when its processor has one
    (as lmms-eval asks chat models; ``vlmplanner serve`` applies the same template)."""

    def __init__(self, pipeline: VLMPipeline) -> None:
        from vlmplanner.profiling.provenance import device_name

        self.pipeline = pipeline
        plan = pipeline.plan
        self.name = pipeline.key
        self.configuration = Configuration(pipeline.key, plan.spec.checkpoint, pipeline.candidate.compressor,
                                           plan.visual_tokens, device_name(plan.device), str(plan.dtype or "checkpoint"))

    def _text(self, text: str) -> str:
        return self.pipeline.chat_prompt([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
                                         text)

    def answer(self, images: list[Any], texts: list[str], max_new_tokens: int) -> list[tuple[str, int]]:
        prompts = [self._text(t) for t in texts]
        predictions = self.pipeline.generate(images, prompts, max_new_tokens=max_new_tokens, do_sample=False)
        return [(p, visual) for p, (visual, _) in zip(predictions, self.pipeline.last_counts)]


def _source(source: VLMPipeline | AnswerSource) -> AnswerSource:
    """A pipeline wrapped as a source. An endpoint needs no torch: if the pipeline module was never
    imported, ``source`` cannot be a pipeline."""
    runner = sys.modules.get("vlmplanner.pipeline.runner")
    if runner is not None and isinstance(source, runner.VLMPipeline):
        return PipelineSource(source)
    return source  # type: ignore[return-value]  # an AnswerSource: what is not a pipeline must be one


def _image(sample: Sample, base: Path) -> Any:
    return str(base / sample.image) if isinstance(sample.image, str) else sample.image


def evaluate(source: VLMPipeline | AnswerSource, benchmark: str, data: str | Path | LocalDataset, *,
             split: str | None = None, limit: int | None = None, batch: int = 1, answers_dir: Path | None = None,
             catalog: Catalog | None = None, progress: Progress | None = None) -> Evaluation:
    """Evaluate ``source`` (a pipeline, or an :class:`~vlmplanner.evaluation.endpoint.EndpointSource`)
    on the local dataset at ``data`` (or one already read) for ``benchmark``.

    ``limit``: only the first ``limit`` samples (the result says it was limited). ``batch``: prompts
    per call to the source. ``answers_dir``: where the answers file goes (default: the data directory's
    ``evaluations`` folder). ``catalog``: store the measured result(s) there (None: only return them).
    """
    from vlmplanner.settings import data_dir

    bench = definition(benchmark)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be a positive integer, got {limit!r}", field="limit", value=limit)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be a positive integer, got {batch!r}", field="batch", value=batch)
    answers_from = _source(source)
    dataset = data if isinstance(data, LocalDataset) else load_dataset(data, bench, split=split)
    samples = list(dataset.samples[:limit] if limit else dataset.samples)
    base = Path(dataset.path) if Path(dataset.path).is_dir() else Path(dataset.path).parent
    path = answers_path(answers_dir or data_dir() / "evaluations", answers_from.name, bench, dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_answers(path)
    todo = [s for s in samples if s.id not in done]
    if progress:
        progress(len(samples) - len(todo), len(samples))
    with path.open("a", encoding="utf-8") as out:
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            images = [_image(s, base) for s in chunk]
            texts = [bench.prompt.render(s.question, s.options, s.hint) for s in chunk]
            for sample, (prediction, count) in zip(chunk, answers_from.answer(images, texts, bench.max_new_tokens)):
                answer = Answer(sample.id, prediction, score_sample(bench, sample, prediction), int(count))
                done[sample.id] = answer
                out.write(json.dumps(vars(answer)) + "\n")
            out.flush()
            if progress:
                progress(len(samples) - len(todo) + start + len(chunk), len(samples))
    answers = [done[s.id] for s in samples]
    scores = aggregate(bench, samples, [a.prediction for a in answers], [a.score for a in answers])
    run = Evaluation(answers_from.configuration.key, bench.name, dataset, answers, scores,
                     limited=len(samples) < len(dataset), answers_file=path)
    run.results = _results(run, answers_from, bench)
    if catalog is not None:
        run.stored = catalog.add_results(run.results)
    return run


def _results(run: Evaluation, source: AnswerSource, bench: BenchmarkDefinition) -> list[ResultIn]:
    from vlmplanner.profiling.provenance import versions
    from vlmplanner.schemas import ResultIn

    config = source.configuration
    n = len(run.answers)
    limited = f", limited to the first {n} of {len(run.dataset)}" if run.limited else ""
    split = f" split {run.dataset.split}" if run.dataset.split else ""
    counted = [a.visual_tokens for a in run.answers if a.visual_tokens >= 0]
    tokens = (f"mean visual tokens reaching the LLM {sum(counted) / len(counted):.1f}" if counted
              else "the source did not say how many visual tokens reached the LLM")
    out = []
    for benchmark, score in run.aggregate.scores.items():
        err = run.aggregate.stderr.get(benchmark)
        stderr = f", standard error {err:.4g}" if err is not None and math.isfinite(err) else ""
        note = (f"vlmplanner evaluate via {source.name} on {run.dataset.kind} {run.dataset.path}{split} (fingerprint"
                f" {run.dataset.fingerprint}): {n} samples{limited}{stderr}; prompt {bench.name} v{bench.prompt.version};"
                f" {tokens}; answers in {run.answers_file}")
        out.append(ResultIn(
            model=config.checkpoint, compressor=config.compressor, visual_tokens=config.visual_tokens,
            benchmark=benchmark, score=score, provenance="measured",
            source=f"vlmplanner evaluate {bench.name} data {run.dataset.fingerprint}{split} n={n}"
                   f"{' limited' if run.limited else ''} prompt v{bench.prompt.version} ({source.name})",
            note=note, device=config.device, dtype=config.dtype,
            versions={**versions(), "prompt": f"{bench.name}/{bench.prompt.version}", "dataset": run.dataset.fingerprint},
        ))
    return out


def export_answers(run: Evaluation, path: Path) -> Path:
    """The per-sample answers as JSON lines: id, prediction, score, visual tokens."""
    with path.open("w", encoding="utf-8") as handle:
        for answer in run.answers:
            handle.write(json.dumps(vars(answer)) + "\n")
    return path
