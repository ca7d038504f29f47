"""A report's numbers as JSON and CSV: every candidate, never thinned, in SI units.

CSV has one row per candidate and hardware profile. Text cells that a spreadsheet would run as a
formula (starting with ``= + - @``) are prefixed with ``'``; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import json
from math import isfinite
from typing import Any

import numpy as np

from .content import AXES, Report, finite

__all__ = ["CSV_COLUMNS", "candidate_records", "render_csv", "render_json", "report_dict", "spreadsheet_safe"]

CSV_COLUMNS = [
    "key", "model", "compressor", "visual_tokens", "score", "score_low", "score_high", "score_fraction",
    "quality_provenance", "quality_sources", "extrapolated", "runnable", "why_not_runnable", "flops",
    "prefill_flops", "decode_flops", "memory_bytes", "cost_provenance", "hardware", "prefill_s", "latency_s",
    "usd_per_1k_requests", "usd_per_1k_correct", "within_budget", "frontier_axes", "chosen",
]


def _column(values: np.ndarray) -> list[float | None]:
    """Python floats, NaN and infinities as None (JSON null, an empty CSV cell)."""
    return [v if isfinite(v) else None for v in values.astype(float).tolist()]


def candidate_records(report: Report) -> list[dict[str, Any]]:
    """One record per candidate: the hardware-independent numbers, then one entry per profile."""
    c = report.candidates
    score, low, high, fraction = _column(c.score), _column(c.low), _column(c.high), _column(c.fraction)
    flops, prefill, decode, memory = (_column(c.flops), _column(c.prefill_flops), _column(c.decode_flops),
                                      _column(c.memory_bytes))
    per_hw = [(s, _column(s.prefill_s), _column(s.latency_s), _column(s.usd_per_1k),
               _column(s.usd_per_1k_correct(c)), _frontier_axes(s, len(c))) for s in report.sections]
    records = []
    for i, key in enumerate(c.keys):
        records.append({
            "key": key, "model": c.models[i], "compressor": c.compressors[i], "visual_tokens": int(c.visual_tokens[i]),
            "quality": {"score": score[i], "low": low[i], "high": high[i], "fraction_of_max": fraction[i],
                        "provenance": c.provenance[i], "sources": c.sources[i], "extrapolated": bool(c.extrapolated[i])},
            "runnable": bool(c.runnable[i]), "why_not_runnable": c.why_not_runnable[i],
            "flops": flops[i], "prefill_flops": prefill[i], "decode_flops": decode[i], "memory_bytes": memory[i],
            "cost_provenance": "predicted; measured too" if key in c.measured else "predicted",
            "by_hardware": {s.name: {"prefill_s": p[i], "latency_s": lat[i], "usd_per_1k_requests": usd[i],
                                     "usd_per_1k_correct": cor[i], "within_budget": bool(s.within_budget[i]),
                                     "frontier_axes": axes[i]}
                            for s, p, lat, usd, cor, axes in per_hw},
        })
    return records


def _frontier_axes(section: Any, n: int) -> list[list[str]]:
    axes: list[list[str]] = [[] for _ in range(n)]
    for axis in AXES:
        for i in section.frontier[axis]:
            axes[i].append(axis)
    return axes


def report_dict(report: Report) -> dict[str, Any]:
    q = report.question
    return {
        "report": "vlmplanner cost report",
        "version": report.version,
        "generated_at": report.generated_at.isoformat(),
        "catalog": report.catalog_url,
        "data_version": report.data_version,
        "question": {"task": q.task, "metric": q.task_metric, "budget": q.budget.model_dump(mode="json",
                                                                                              exclude_none=True),
                     "workload": q.workload.model_dump(mode="json"), "hardware": list(q.hardware),
                     "accounting": q.accounting, "dtype": q.dtype, "include": q.include, "filters": q.filters},
        "sections": [{
            "hardware": s.name,
            "hardware_profile": s.hardware.model_dump(mode="json") if s.hardware else None,
            "money": s.available("usd") or "available",
            "recommendation": s.recommendation.model_dump(mode="json") if s.recommendation else None,
            "problem": s.problem,
            "cheapest": [report.candidates.keys[i] for i in s.cheapest],
            "frontier": {axis: [report.candidates.keys[i] for i in s.frontier[axis]] for axis in AXES},
            "breakdowns": [b.model_dump(mode="json") for b in s.breakdowns],
            "within_budget": int(s.within_budget.sum()),
        } for s in report.sections],
        "laws": [{
            "label": law.label, "family": law.family, "compressor": law.compressor, "benchmark": law.benchmark,
            "parameters": {k: None if v is None else finite(v) for k, v in law.parameters.items()},
            "curves": [{"params_b": n, "visual_tokens": v, "score": s, "low": lo, "high": hi}
                       for n, (v, s, lo, hi) in sorted(law.curves.items())],
            "points": [{"model": p.model, "params_b": p.params_b, "visual_tokens": p.visual_tokens, "score": p.score,
                        "provenance": p.provenance, "sources": list(p.sources)} for p in law.points],
            "chosen": list(law.chosen) if law.chosen else None,
        } for law in report.laws],
        "without_estimate": report.without_estimate,
        "candidates": candidate_records(report),
        "measured_costs": report.candidates.measured,
    }


def render_json(report: Report) -> str:
    """Indented, but one line per candidate: json's C encoder writes compact text only, and a
    100,000-candidate report is most of the file."""
    data = report_dict(report)
    candidates = data.pop("candidates")
    head = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    rows = ",\n  ".join(encode(c) for c in candidates)
    return f'{head[:-2]},\n "candidates": [\n  {rows}\n ]\n}}\n' if candidates else (
        f'{head[:-2]},\n "candidates": []\n}}\n')


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as written: text that would run as a formula gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def render_csv(report: Report) -> str:
    chosen = {s.name: s.recommendation.key for s in report.sections if s.recommendation}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    safe = spreadsheet_safe
    for r in candidate_records(report):
        q = r["quality"]
        head = [safe(r["key"]), safe(r["model"]), safe(r["compressor"]), r["visual_tokens"], q["score"], q["low"],
                q["high"], q["fraction_of_max"], q["provenance"], safe(q["sources"]), q["extrapolated"], r["runnable"],
                safe(r["why_not_runnable"]), r["flops"], r["prefill_flops"], r["decode_flops"], r["memory_bytes"],
                r["cost_provenance"]]
        for hardware, h in r["by_hardware"].items():
            writer.writerow([*head, safe(hardware), h["prefill_s"], h["latency_s"], h["usd_per_1k_requests"],
                             h["usd_per_1k_correct"], h["within_budget"], ";".join(h["frontier_axes"]),
                             chosen.get(hardware) == r["key"]])
    return out.getvalue()
