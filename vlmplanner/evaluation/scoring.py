"""From a benchmark's answers to its catalog scores: one per-sample rule and one aggregate per metric.

A benchmark definition names its metric (``BenchmarkDefinition.metric``); this module is the only
place that turns that name into arithmetic, with the functions of ``metrics``. Per-sample scores
are kept (they are exported, and their standard error is stored); benchmarks whose score is not a
mean of per-sample scores (POPE's F1, MME's sums) aggregate the answers themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vlmplanner.errors import ValidationError

from . import metrics
from .benchmarks import BenchmarkDefinition

__all__ = ["Aggregate", "Sample", "aggregate", "score_sample"]


@dataclass(frozen=True)
class Sample:
    """One dataset row as a benchmark reads it."""

    id: str
    question: str
    answer: Any                 # a string, a list of strings (VQA, ANLS), an option letter or index
    options: tuple[str, ...] = ()
    hint: str | None = None
    image: Any = None           # a PIL image, or a path
    category: str = ""          # MME's subtask, OCRBench's question type or source dataset
    group: str = ""             # MME: the image a pair of questions shares


@dataclass(frozen=True)
class Aggregate:
    """The catalog scores one run gives: ``scores`` per catalog benchmark, ``stderr`` where the
    score is a mean of per-sample scores."""

    scores: dict[str, float]
    stderr: dict[str, float]


def _letter(sample: Sample) -> str:
    """The right option's letter: given as a letter, or as an index into the options (ScienceQA)."""
    answer = sample.answer
    if isinstance(answer, bool):
        raise ValidationError(f"sample {sample.id}: an option answer must be a letter or an index, got {answer!r}",
                              field="answer", value=answer)
    if isinstance(answer, int):
        if not 0 <= answer < len(sample.options):
            raise ValidationError(f"sample {sample.id}: answer index {answer} has no option", field="answer",
                                  value=answer)
        return chr(ord("A") + answer)
    return str(answer).strip()


def _answers(sample: Sample) -> list[str]:
    answer = sample.answer
    if isinstance(answer, str):
        return [answer]
    if isinstance(answer, Sequence) and answer and all(isinstance(a, str) for a in answer):
        return list(answer)
    if isinstance(answer, Sequence) and answer and all(isinstance(a, Mapping) and "answer" in a for a in answer):
        return [str(a["answer"]) for a in answer]       # VQAv2's [{"answer": ...}, ...]
    raise ValidationError(f"sample {sample.id}: the answer must be a string or a list of strings, got {answer!r:.80}",
                          field="answer", value=type(answer).__name__)


def score_sample(definition: BenchmarkDefinition, sample: Sample, prediction: str) -> float:
    """The per-sample score in 0-1 (POPE and MME: 1 when the yes/no answer is right)."""
    metric = definition.metric
    if metric == "vqa_accuracy":
        return metrics.vqa_accuracy(prediction, _answers(sample))
    if metric == "exact_match":
        return metrics.exact_match(prediction, _answers(sample))
    if metric == "multiple_choice":
        return metrics.multiple_choice_accuracy(prediction, _letter(sample), list(sample.options))
    if metric == "anls":
        return metrics.anls(prediction, _answers(sample))
    if metric == "relaxed_accuracy":
        return metrics.relaxed_accuracy(prediction, _answers(sample)[0])
    if metric in ("pope", "mme"):
        return 1.0 if metrics.yes_no(prediction) == _answers(sample)[0].strip().lower() else 0.0
    if metric == "ocrbench":
        return metrics.ocrbench_correct(prediction, _answers(sample), sample.category)
    raise ValidationError(f"benchmark {definition.name}: unknown metric {metric!r}", field="metric", value=metric)


def aggregate(definition: BenchmarkDefinition, samples: Sequence[Sample], predictions: Sequence[str],
              per_sample: Sequence[float]) -> Aggregate:
    """The run's catalog scores, on each catalog benchmark's scale."""
    if not samples:
        raise ValidationError(f"benchmark {definition.name}: no answered samples to score", field="samples", value=0)
    if definition.metric == "pope":
        scores = metrics.pope_scores(list(predictions), [_answers(s)[0] for s in samples])
        mean, err = metrics.mean_and_stderr(list(per_sample))
        return Aggregate({"POPE": 100.0 * scores["accuracy"], "POPE(F1)": 100.0 * scores["f1"]},
                         {"POPE": 100.0 * err})
    if definition.metric == "mme":
        mme = metrics.mme_scores([(s.category, s.group or s.id, p, _answers(s)[0]) for s, p in zip(samples, predictions)])
        return Aggregate({"MME(P)": mme["perception"], "MME-Cognition": mme["cognition"],
                          "MME(P+C)": mme["total"]}, {})
    mean, err = metrics.mean_and_stderr(list(per_sample))
    scale = 1000.0 if definition.metric == "ocrbench" else 100.0   # OCRBench: the Final Score of 1000 questions
    headline = definition.stores[0]
    return Aggregate({headline: scale * mean}, {headline: scale * err})
