"""Reading lmms-eval's aggregated result files, every layout from v0.1 to v0.7.

Where the files are (eval-formats notes, ``docs/evaluation.md``): ``results.json`` in a run folder
up to v0.2.3, ``<YYYYMMDD_HHMMSS>_results.json`` from v0.2.4 on; folders are searched for both,
and folder names are never trusted. What changed inside: ``model_configs`` (up to v0.2.2) became
``config``; ``n-samples`` (v0.2.3+) says whether ``--limit`` cut the run; ``model_name`` (v0.2.4+)
names the checkpoint, before that only ``model_args`` does; MME's perception key was misspelt
``mme_percetion_score`` up to v0.2.4. Which metric of a task is its score, and on what scale, is
the benchmark definitions' table (``vlmplanner.evaluation.benchmarks``), never guessed from a value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmplanner.errors import ValidationError

from .records import ImportedScore, ImportReport, Skipped, hub_id_from_path, run_digest

__all__ = ["model_from_args", "parse_model_args", "read_lmms_eval"]

#: The prefixes lmms-eval's own model-name extractor tries in ``model_args``, in its order.
_MODEL_KEYS = ("peft", "delta", "pretrained", "model", "model_version", "model_name", "model_id", "path", "engine")
_OPENING, _CLOSING = "[{(", "]})"


def parse_model_args(text: str) -> dict[str, str]:
    """``model_args`` (``k=v,k=v,…``) as a dict. Values may hold commas inside brackets or quotes
    (``mm_processor_kwargs={"min_pixels":200704,"max_pixels":1605632}``) and a key may repeat; the
    last occurrence wins, as it does when lmms-eval passes them on."""
    if not isinstance(text, str):
        return {}
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    found: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if sep and key.strip():
            found.pop(key.strip(), None)   # keep the last occurrence, in its position
            found[key.strip()] = value.strip()
    return found


def model_from_args(args: Mapping[str, str]) -> str:
    """The checkpoint ``model_args`` names, as lmms-eval's extractor finds it; '' when none does."""
    for key in _MODEL_KEYS:
        if args.get(key):
            return hub_id_from_path(args[key])
    return ""


def _pixel_settings(args: Mapping[str, str]) -> dict[str, str]:
    """Resolution arguments, also those nested in ``mm_processor_kwargs`` JSON (later wins)."""
    out = {k: v for k, v in args.items() if k in ("max_pixels", "min_pixels", "image_aspect_ratio")}
    nested = args.get("mm_processor_kwargs")
    if nested:
        try:
            value = json.loads(nested)
        except ValueError:
            value = None
        if isinstance(value, dict):
            out.update({k: str(v) for k, v in value.items() if k in ("max_pixels", "min_pixels")})
    return out


def _files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[Path]:
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise ValidationError(f"no such file or folder: {str(given)!r}", field="path", value=str(given))
        if path.is_file():
            yield path
            continue
        found = sorted({*path.rglob("*_results.json"), *path.rglob("results.json")})
        yield from (p for p in found if p.is_file())


def read_lmms_eval(paths: Sequence[str | os.PathLike[str]]) -> ImportReport:
    """Every score the lmms-eval result files under ``paths`` (files or folders) hold for a
    benchmark vlmplanner knows; unknown tasks, partial runs and unreadable files are reported."""
    report = ImportReport()
    seen = False
    for path in _files(paths):
        seen = True
        report.extend(_read_file(path))
    if not seen:
        report.problems.append(Skipped(", ".join(str(p) for p in paths), "folder",
                                       "no lmms-eval result file (results.json or *_results.json) in it"))
    return report


def _read_file(path: Path) -> ImportReport:
    report = ImportReport()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.problems.append(Skipped(str(path), path.name, f"not readable JSON ({exc})"))
        return report
    layout = _layout_problem(data)
    if layout:
        report.problems.append(Skipped(str(path), path.name, layout))
        return report
    config = data.get("config") if isinstance(data.get("config"), dict) else data.get("model_configs") or {}
    args = parse_model_args(str(config.get("model_args") or ""))
    model = hub_id_from_path(str(data.get("model_name") or "")) or model_from_args(args)
    if not model:
        report.problems.append(Skipped(str(path), path.name, "the file names no model (no model_name, and no"
                                       " pretrained=/model=… in model_args); pass the catalog model"))
    limit = config.get("limit")
    date = str(data.get("date") or "")
    run = f"{date or path.parent.name}-{run_digest(str(config.get('model_args') or ''), str(config.get('model') or ''))}"
    version = data.get("lmms_eval_version") or data.get("git_hash")
    versions = {"lmms-eval": str(version)} if version else {}
    samples: dict[str, Any] = data["n-samples"] if isinstance(data.get("n-samples"), dict) else {}
    settings = _pixel_settings(args)
    if config.get("model"):
        settings["backend"] = str(config["model"])
    from vlmplanner.evaluation.benchmarks import lmms_eval_task

    for task, values in data["results"].items():
        if not isinstance(values, dict):
            continue
        definition = lmms_eval_task(task)
        if definition is None:
            report.unknown_tasks.append(Skipped(str(path), task, "no benchmark definition maps this lmms-eval task"))
            continue
        count: dict[str, Any] = samples[task] if isinstance(samples.get(task), dict) else {}
        effective, original = _int(count.get("effective")), _int(count.get("original"))
        limited = limit is not None or (effective is not None and original is not None and effective < original)
        for metric in definition.lmms_eval[task]:
            key = next((k for k in (metric.key, *metric.aliases) if k in values), None)
            if key is None:
                report.problems.append(Skipped(str(path), task, f"no {metric.key!r} in its results"))
                continue
            raw = values[key]
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                report.problems.append(Skipped(str(path), task, f"{key} is {raw!r}, not a number"))
                continue
            name, _, flt = key.rpartition(",")
            stderr = values.get(f"{name}_stderr,{flt}")
            score = ImportedScore(
                harness="lmms-eval", benchmark=metric.benchmark, score=float(raw) * metric.factor, raw=float(raw),
                factor=metric.factor, task=task, metric_key=key, model=model, path=str(path), run=run,
                settings=settings,
                stderr=float(stderr) * metric.factor if isinstance(stderr, (int, float))
                and not isinstance(stderr, bool) and math.isfinite(stderr) else None,
                samples=effective, limited=limited, date=date, versions=versions,
            )
            report.scores.append(score)
    return report


def _layout_problem(data: Any) -> str:
    """Why ``data`` is not an lmms-eval aggregated file, or '' when it is one."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return "not an lmms-eval result file (no 'results' object)"
    if "lm_eval_version" in data or isinstance(data.get("date"), float):
        return "an lm-evaluation-harness file (lm_eval_version / a float date), not lmms-eval's"
    if not any(k in data for k in ("configs", "versions", "config", "model_configs")):
        return "not an lmms-eval result file (no configs, versions or config)"
    return ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
