"""What an importer reads from another harness's result files, before anything is stored.

Both readers (``lmms_eval``, ``vlmevalkit``) turn files into an :class:`ImportReport`: the scores
they could map to a catalog benchmark, each with where it came from and how to read it, and a line
for everything else (a task no benchmark definition maps, a partial run, a file that is not a result
file). Storing is a separate step (``vlmplanner.imports.store``), so ``--dry-run`` shows exactly
what would be written. Plain Python.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["ImportReport", "ImportedScore", "Skipped", "hub_id_from_path", "run_digest"]


@dataclass(frozen=True)
class ImportedScore:
    """One number of a harness's file, mapped onto a catalog benchmark.

    ``raw`` is the number as written, ``score`` = ``raw`` x ``factor`` on the benchmark's scale.
    ``model`` is what the file names (a Hub id, a local path, a VLMEvalKit config key); ``settings``
    the run's model arguments (lmms-eval's ``model_args``, parsed) from which the visual-token
    budget may be inferred. ``limited``: the run used ``--limit`` (or its sample count is short), so
    the number is not comparable with a full run. ``run`` identifies the run (its date stamp or run
    folder) so importing the same file twice stores one result."""

    harness: str
    benchmark: str
    score: float
    raw: float
    factor: float
    task: str
    metric_key: str
    model: str
    path: str
    run: str
    settings: dict[str, str] = field(default_factory=dict)
    stderr: float | None = None
    samples: int | None = None
    limited: bool = False
    date: str = ""
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """Something read but not turned into a score, and why."""

    path: str
    what: str
    reason: str


@dataclass
class ImportReport:
    """Everything one import read: the scores, and a line for each thing it left out."""

    scores: list[ImportedScore] = field(default_factory=list)
    unknown_tasks: list[Skipped] = field(default_factory=list)
    partial: list[Skipped] = field(default_factory=list)
    problems: list[Skipped] = field(default_factory=list)

    def extend(self, other: ImportReport) -> None:
        self.scores += other.scores
        self.unknown_tasks += other.unknown_tasks
        self.partial += other.partial
        self.problems += other.problems


_HF_CACHE = re.compile(r"models--([^/\\]+?)--([^/\\]+)")


def hub_id_from_path(name: str) -> str:
    """A Hub id for what a harness recorded as the model: ``org/name`` as given, or recovered from a
    Hugging Face cache path (``…/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/<sha>``); anything
    else unchanged."""
    found = _HF_CACHE.search(name)
    return f"{found.group(1)}/{found.group(2)}" if found else name.strip()


def run_digest(*parts: str) -> str:
    """A short stable digest of a run's identity (runs of one model with different budgets differ
    only in their model arguments)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:10]
