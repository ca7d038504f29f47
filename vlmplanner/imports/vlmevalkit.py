"""Reading VLMEvalKit's score files, in each of its three output layouts.

Under ``--work-dir`` VLMEvalKit writes one folder per model (named by its config key, not a Hub
id). Up to Nov 2024 the files sit in it directly (``flat``); from then on each run has its own
folder, ``T<YYYYMMDD>_G<githash8>/`` (the model folder holds *absolute* symlinks to the latest
run's files) and, from Apr 2026, ``T<YYYYMMDD-HHMMSS>/`` with relative symlinks and a
``status.json``. Symlinks break when a work dir is copied and only repeat a run folder's files, so
they are never read: the real files in the run folders are.

A score file is ``<model>_<dataset><suffix>``. Both names may hold underscores, so the name is never
split on ``_``: the model folder's name is stripped from the front and the remainder must be a
dataset that a benchmark definition (``vlmplanner.evaluation.benchmarks``) maps, followed by the
suffix the definition names; the longest such dataset wins, and anything else (``MMBench_DEV_EN_V11``
next to ``MMBench_DEV_EN``) is reported as an unknown task, never guessed. Which column holds the
score and on what scale is the definitions' table as well, never inferred from a value.

Rules where the files leave a choice:

* one (model, dataset) read from several runs: the newest run folder by its stamp wins (a
  ``T…-HHMMSS`` stamp is newer than a date-only one of the same day; on a tie, the run the model
  folder's symlink points to, then the newer file); flat files are older than any run folder. The
  others are listed in ``report.partial`` as "superseded by run T…". A newer run that is not
  importable (not ``done`` in its status.json, failed, or an unreadable file) is listed with its
  reason and the next newest is taken.
* ``status.json``: a dataset is importable when its status is ``done`` with no ``error_message``
  or ``skip_reason``; otherwise it goes to ``report.partial``. A dataset status.json does not list is
  read as usual. status.json records no sample counts, so ``samples`` stays None.
* a file that cannot be read, lacks a mapped column or holds a non-numeric value is a
  ``report.problems`` line and gives no score at all (not even its other columns).

Standard library only; no work at import.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmplanner.errors import ValidationError
from vlmplanner.evaluation.benchmarks import HarnessMetric, definitions

from .records import ImportedScore, ImportReport, Skipped

__all__ = ["read_vlmevalkit"]

HARNESS = "vlmevalkit"

_LEGACY_RUN = re.compile(r"^T(\d{8})_G([0-9A-Za-z]+)$")
_NEW_RUN = re.compile(r"^T(\d{8})-(\d{6})$")
_HEX = re.compile(r"^[0-9a-fA-F]{6,40}$")
#: the endings of every VLMEvalKit score file (a judge's name may stand before ``_score.csv``)
_SCORE_SUFFIXES = ("_acc.csv", "_score.csv", "_score.json", "_acc.json")
_STATUS = "status.json"

#: a definition's VLMEvalKit entry: the score file's suffix, and the metrics in it
_Spec = tuple[str, tuple[HarnessMetric, ...]]


class _FileProblem(Exception):
    """A score file that gives no score; the message is the report's reason."""


@dataclass(frozen=True)
class _Run:
    """Where a file came from: a run folder, or the model folder itself (``flat``)."""

    name: str
    stamp: tuple[str, str] = ("", "")
    date: str = ""
    githash: str = ""
    #: status.json's ``datasets`` block; None when the run has no (readable) status.json
    status: Mapping[str, Any] | None = None
    status_path: str = ""


_FLAT = _Run("flat")


@dataclass
class _Candidate:
    """One (model, dataset) result a file (or a status.json entry without a file) offers."""

    model: str
    dataset: str
    run: _Run
    path: Path
    has_file: bool = True
    linked: bool = False
    mtime: int = 0

    def order(self) -> tuple[tuple[str, str], bool, int]:
        return self.run.stamp, self.linked, self.mtime


@dataclass
class _Reader:
    """The state of one import: the datasets the definitions map, and what was found so far."""

    known: dict[str, _Spec]
    report: ImportReport = field(default_factory=ImportReport)
    candidates: list[_Candidate] = field(default_factory=list)
    unknown: list[_Candidate] = field(default_factory=list)
    runs: dict[Path, _Run] = field(default_factory=dict)
    seen: set[tuple[Path, str]] = field(default_factory=set)


def read_vlmevalkit(paths: Sequence[str | os.PathLike[str]]) -> ImportReport:
    """Read VLMEvalKit score files into an :class:`ImportReport`.

    Each path is a score file, a model folder (``<work-dir>/<model>/``), a run folder inside one,
    or a whole work dir holding model folders (one level; deeper folders are not searched, and
    symlinks inside a folder are never followed: they only repeat a run folder's files). Every
    path is checked before anything is read: one that does not exist raises ValidationError
    (``field="path"``)."""
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for path in given:
        if not Path(path).exists():
            raise ValidationError(f"no such file or folder: {str(path)!r}", field="path",
                                  value=str(path))
    reader = _Reader(known=_known_datasets())
    for path in given:
        _collect(reader, Path(path))
    _choose(reader)
    return reader.report


def _known_datasets() -> dict[str, _Spec]:
    """Every VLMEvalKit dataset a benchmark definition maps: its score file suffix and metrics."""
    return {name: spec for d in definitions() for name, spec in d.vlmevalkit.items()}


# -- finding the files --------------------------------------------------------------------------

def _is_run_name(name: str) -> bool:
    return bool(_LEGACY_RUN.match(name) or _NEW_RUN.match(name))


def _entries(reader: _Reader, folder: Path) -> list[Path]:
    """A folder's entries, sorted; one that cannot be listed is a problem line."""
    try:
        return sorted(folder.iterdir())
    except OSError as err:
        reader.report.problems.append(Skipped(str(folder), folder.name, f"cannot list the folder: {err}"))
        return []


def _looks_like_model(folder: Path, entries: Iterable[Path]) -> bool:
    """A model folder holds ``<its name>_…`` files (or links to them) or run folders."""
    prefix = folder.name + "_"
    return any(((e.is_symlink() or e.is_file()) and e.name.startswith(prefix))
               or (_is_run_name(e.name) and e.is_dir() and not e.is_symlink()) for e in entries)


def _collect(reader: _Reader, path: Path) -> None:
    """Add the candidates under one given path."""
    if path.is_file():
        _collect_file(reader, path)
        return
    if not path.is_dir():
        reader.report.problems.append(Skipped(str(path), path.name, "not a file or a folder"))
        return
    absolute = path.absolute()
    if _is_run_name(absolute.name):
        if not _scan_run(reader, path, absolute.parent.name, {}):
            _no_scores(reader, path, "run folder")
        return
    entries = _entries(reader, path)
    if _looks_like_model(absolute, entries):
        _scan_model(reader, path, absolute.name, entries)
        return
    found = False
    for sub in entries:
        if sub.is_dir() and not sub.is_symlink():
            sub_entries = _entries(reader, sub)
            if _looks_like_model(sub, sub_entries):
                found = True
                _scan_model(reader, sub, sub.name, sub_entries)
    if not found:
        _no_scores(reader, path, "folder (no model folder with <model>_<dataset> files or T… run folders)")


def _no_scores(reader: _Reader, folder: Path, kind: str, extra: str = "") -> None:
    reader.report.problems.append(
        Skipped(str(folder), folder.name, f"no VLMEvalKit score file in this {kind}{extra}"))


def _scan_model(reader: _Reader, folder: Path, model: str, entries: list[Path]) -> None:
    """A model folder: its own real files (flat layout) and its run folders; symlinks only say
    which run was the latest."""
    linked: dict[str, str] = {}
    links = 0
    for entry in entries:
        if entry.is_symlink():
            links += 1
            try:
                target = Path(os.readlink(entry))
            except OSError:
                continue
            if _is_run_name(target.parent.name):
                linked[entry.name] = target.parent.name
    found = 0
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir():
            if _is_run_name(entry.name):
                found += _scan_run(reader, entry, model, linked)
        elif entry.is_file():
            found += _add_file(reader, entry, model, _FLAT) is not None
    if not found:
        extra = f"; {links} symlink(s) ignored, their run folders are not here" if links else ""
        _no_scores(reader, folder, "model folder", extra)


def _scan_run(reader: _Reader, folder: Path, model: str, linked: Mapping[str, str]) -> int:
    """A run folder: its real score files, and its status.json's datasets that have none; how
    many of both it holds (counting those read before, through another given path)."""
    run = _load_run(reader, folder)
    with_file: set[str] = set()
    for entry in _entries(reader, folder):
        if entry.is_file() and not entry.is_symlink():
            dataset = _add_file(reader, entry, model, run, linked.get(entry.name) == run.name)
            if dataset:
                with_file.add(dataset)
    only_status = [d for d in (run.status or {}) if d in reader.known and d not in with_file]
    for dataset in only_status:
        key = (Path(run.status_path).resolve(), dataset)
        if key not in reader.seen:
            reader.seen.add(key)
            reader.candidates.append(_Candidate(model, dataset, run, Path(run.status_path), has_file=False))
    return len(with_file) + len(only_status)


def _load_run(reader: _Reader, folder: Path) -> _Run:
    """The run a folder's name and status.json describe (read once per folder)."""
    key = folder.resolve()
    if key in reader.runs:
        return reader.runs[key]
    name = folder.absolute().name
    legacy, new = _LEGACY_RUN.match(name), _NEW_RUN.match(name)
    githash, status, status_path = "", None, ""
    if legacy:
        day, githash = legacy.group(1), legacy.group(2)
        stamp, date = (day, ""), f"{day[:4]}-{day[4:6]}-{day[6:]}"
    elif new:
        day, time = new.group(1), new.group(2)
        stamp = (day, time)
        date = f"{day[:4]}-{day[4:6]}-{day[6:]}T{time[:2]}:{time[2:4]}:{time[4:]}"
    else:
        stamp, date = ("", ""), ""
    status_file = folder / _STATUS
    if status_file.is_file() and not status_file.is_symlink():
        status_path = str(status_file)
        try:
            data = json.loads(status_file.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("datasets", {}), dict):
                raise ValueError("not a status.json object with a 'datasets' mapping")
            status = data.get("datasets", {})
            commit = data.get("commit")
            if isinstance(commit, str) and not githash:
                githash = commit
        except (OSError, UnicodeDecodeError, ValueError) as err:
            reader.report.problems.append(Skipped(
                status_path, _STATUS, f"cannot read status.json ({err}); the run's files are read"
                                      " without it"))
    run = _Run(name, stamp, date, githash if _HEX.match(githash) else "", status, status_path)
    reader.runs[key] = run
    return run


def _collect_file(reader: _Reader, path: Path) -> None:
    """A score file given by itself: its model is its folder's name (the run folder's parent's
    when it sits in a run folder)."""
    parent = path.absolute().parent
    if _is_run_name(parent.name):
        run, model = _load_run(reader, path.parent), parent.parent.name
    else:
        run, model = _FLAT, parent.name
    if _add_file(reader, path, model, run) is not None:
        return
    found = _match_end(path.name, reader.known)
    if found is not None:
        _add_file(reader, path, found, run)
        return
    if path.name.endswith(_SCORE_SUFFIXES):
        reason = (f"the file name does not start with its model folder's name ({model}_) and ends in"
                  " no dataset a benchmark definition maps")
    else:
        reason = ("not a VLMEvalKit score file (<model>_<dataset> followed by _acc.csv, _score.csv,"
                  " _score.json or _acc.json)")
    reader.report.problems.append(Skipped(str(path), path.name, reason))


def _add_file(reader: _Reader, path: Path, model: str, run: _Run, linked: bool = False) -> str | None:
    """Record a score file of ``model``; the dataset it is a score of, None if it is none."""
    parsed = _split_name(path.name, model, reader.known)
    if parsed is None:
        return None
    dataset, known = parsed
    key = (path.resolve(), "")
    if key in reader.seen:
        return dataset
    reader.seen.add(key)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    candidate = _Candidate(model, dataset, run, path, linked=linked, mtime=mtime)
    (reader.candidates if known else reader.unknown).append(candidate)
    return dataset


def _suffix_forms(suffix: str) -> tuple[str, ...]:
    """The endings a definition's score file may have: since Sep 2025 ``EVAL_FORMAT=json`` turns
    a VQA-style ``_acc.csv`` into ``_acc.json``."""
    return (suffix, "_acc.json") if suffix == "_acc.csv" else (suffix,)


def _fits(rest: str, dataset: str, form: str) -> bool:
    """``rest`` is ``dataset`` + ``form``; a ``<judge>`` in the form stands for a judge's name."""
    if "<judge>" not in form:
        return rest == dataset + form
    before, after = form.split("<judge>", 1)
    head = dataset + before
    return rest.startswith(head) and rest.endswith(after) and len(rest) > len(head) + len(after)


def _split_name(name: str, model: str, known: Mapping[str, _Spec]) -> tuple[str, bool] | None:
    """(dataset, whether a definition maps it) for ``<model>_<dataset><suffix>``; None when the
    name is not a score file of ``model``. The longest mapped dataset wins; a score file of any
    other dataset gives the remainder before its suffix, reported as unknown."""
    if not name.startswith(model + "_"):
        return None
    rest = name[len(model) + 1:]
    best = ""
    for dataset, (suffix, _metrics) in known.items():
        if len(dataset) > len(best) and any(_fits(rest, dataset, f) for f in _suffix_forms(suffix)):
            best = dataset
    if best:
        return best, True
    for suffix in _SCORE_SUFFIXES:
        if rest.endswith(suffix) and len(rest) > len(suffix):
            return rest[: -len(suffix)], False
    return None


def _match_end(name: str, known: Mapping[str, _Spec]) -> str | None:
    """The model key of a score file outside its model folder: what stands before
    ``_<dataset><suffix>`` for the longest mapped dataset it ends in."""
    best, model = "", None
    for dataset, (suffix, _metrics) in known.items():
        for form in _suffix_forms(suffix):
            ending = f"_{dataset}{form}"
            if "<judge>" not in form and name.endswith(ending) and len(name) > len(ending) \
                    and len(dataset) > len(best):
                best, model = dataset, name[: -len(ending)]
    return model


# -- choosing and reading ---------------------------------------------------------------------

def _groups(candidates: Iterable[_Candidate]) -> Iterator[list[_Candidate]]:
    """Candidates by (model, dataset), newest first (a stable sort: on a full tie, the order the
    paths were given)."""
    grouped: dict[tuple[str, str], list[_Candidate]] = {}
    for c in candidates:
        grouped.setdefault((c.model, c.dataset), []).append(c)
    for group in grouped.values():
        yield sorted(group, key=_Candidate.order, reverse=True)


def _choose(reader: _Reader) -> None:
    """Import the newest importable result of each (model, dataset); a line for every other."""
    report = reader.report
    for group in _groups(reader.unknown):
        newest = group[0]
        report.unknown_tasks.append(Skipped(
            str(newest.path), newest.dataset,
            f"no benchmark definition maps the VLMEvalKit dataset {newest.dataset!r}"))
    for group in _groups(reader.candidates):
        winner: _Candidate | None = None
        for c in group:
            if winner is not None:
                reason = (f"superseded by run {winner.run.name}" if winner.run.name != c.run.name
                          else f"superseded by {winner.path} (the same run, {c.run.name})")
                report.partial.append(Skipped(str(c.path), c.dataset, reason))
                continue
            not_done = _status_reason(c)
            if not_done:
                report.partial.append(Skipped(str(c.path), c.dataset, not_done))
                continue
            if not c.has_file:
                report.problems.append(Skipped(
                    str(c.path), c.dataset, f"status.json says done, but run {c.run.name} holds no score file"))
                continue
            try:
                scores = _scores(c, reader.known[c.dataset][1])
            except _FileProblem as err:
                report.problems.append(Skipped(str(c.path), c.dataset, str(err)))
                continue
            report.scores += scores
            winner = c


def _status_reason(c: _Candidate) -> str:
    """Why status.json says this dataset's result is not a finished one ('' when it is, or when
    the run has no status.json or does not list the dataset)."""
    entry = (c.run.status or {}).get(c.dataset)
    if not isinstance(entry, dict):
        return ""
    where = f"status.json of run {c.run.name}"
    state = entry.get("status")
    if state != "done":
        return f"status {state!r} in {where}, not 'done'"
    if entry.get("error_message"):
        return f"failed in {where}: {entry['error_message']}"
    if entry.get("skip_reason"):
        return f"evaluation skipped in {where} ({entry['skip_reason']})"
    return ""


def _scores(c: _Candidate, metrics: Sequence[HarnessMetric]) -> list[ImportedScore]:
    """The scores one file gives: every mapped metric, or none (raises _FileProblem)."""
    row = _pick_row(_read_rows(c.path), c.dataset)
    out = []
    for metric in metrics:
        column = next((k for k in (metric.key, *metric.aliases) if k in row), None)
        if column is None:
            raise _FileProblem(f"no column {metric.key!r} (it has {', '.join(map(repr, row))})")
        raw = _number(row[column], column)
        out.append(ImportedScore(
            harness=HARNESS, benchmark=metric.benchmark, score=raw * metric.factor, raw=raw,
            factor=metric.factor, task=c.dataset, metric_key=column, model=c.model, path=str(c.path),
            run=c.run.name, settings={}, stderr=None, samples=None, limited=False, date=c.run.date,
            versions={HARNESS: c.run.githash} if c.run.githash else {}))
    return out


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """A score file's rows: a CSV's (every cell a string; VLMEvalKit quotes them all), a JSON
    list of records (``EVAL_FORMAT=json``), or a JSON object as one row (OCRBench)."""
    try:
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise _FileProblem(f"not valid JSON ({err.msg} at line {err.lineno}); the file may be"
                                   " truncated") from None
            rows = [data] if isinstance(data, dict) else data
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise _FileProblem("the JSON is neither an object nor a list of records")
            return rows
        with path.open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle, quoting=csv.QUOTE_ALL, strict=True))
    except csv.Error as err:
        raise _FileProblem(f"not a readable CSV ({err}); the file may be truncated") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _FileProblem(f"cannot read the file: {err}") from None
    table = [r for r in table if r]
    if not table:
        raise _FileProblem("the file is empty")
    header = table[0]
    for number, cells in enumerate(table[1:], start=2):
        if len(cells) != len(header):
            raise _FileProblem(f"line {number} has {len(cells)} cells where the header has {len(header)};"
                               " the file may be truncated")
    return [dict(zip(header, cells)) for cells in table[1:]]


def _pick_row(rows: list[dict[str, Any]], dataset: str) -> dict[str, Any]:
    """The row that holds the dataset's headline: MMBench's ``dev`` split; else the ``Overall``
    row (POPE, HallusionBench, GPT-judged tables keyed by ``Task&Skill``/``Category``), the
    ``none`` split, or the only row."""
    if not rows:
        raise _FileProblem("the file has no rows")
    for column in ("split", "Task&Skill", "Category"):
        if column not in rows[0]:
            continue
        wanted = ("dev",) if dataset.startswith("MMBench") else ("Overall", "none")
        for want in wanted:
            found = [r for r in rows if str(r.get(column, "")).strip() == want]
            if found:
                return found[0]
        if len(rows) == 1 and not dataset.startswith("MMBench"):
            return rows[0]
        labels = ", ".join(repr(str(r.get(column, ""))) for r in rows)
        raise _FileProblem(f"no {' or '.join(map(repr, wanted))} row in column {column!r} (rows: {labels})")
    if len(rows) != 1:
        raise _FileProblem(f"{len(rows)} rows and no 'split' column to choose one by")
    return rows[0]


def _number(value: Any, column: str) -> float:
    """A cell as a finite float (CSV cells are strings; JSON values may be numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _FileProblem(f"column {column!r} holds {value!r}, not a number")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise _FileProblem(f"column {column!r} holds {value!r}, not a number") from None
    if not math.isfinite(number):
        raise _FileProblem(f"column {column!r} holds {value!r}, not a finite number")
    return number
