"""The report as tables of text, formatted once for both the HTML and the Markdown writer.

Every number says its unit, and every quality or cost says where it came from (measured,
imported, published or predicted); a number nobody could compute reads "unavailable" with why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .content import AXES, PROVENANCE, HardwareSection, LawCurve, Report
from .phases import flops_by_phase, memory_by_part

__all__ = ["Cell", "Table", "cost_provenance", "fmt", "question_fields", "section_cards", "tables"]

#: candidates the HTML and Markdown list in full (JSON and CSV hold every one)
CANDIDATE_ROWS = 30
FRONTIER_ROWS = 30


@dataclass(frozen=True)
class Cell:
    text: str
    tag: str | None = None  # a provenance or runnability badge: measured, predicted, what-if, …


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    note: str = ""
    anchor: str = ""


@dataclass
class Card:
    """One hardware profile's answer, as the report's first section shows it."""

    hardware: str
    fields: list[tuple[str, Cell]]
    reason: str | None
    problem: str | None
    cheapest: Table | None = None
    notes: list[str] = field(default_factory=list)


def fmt(value: float | None, scale: float = 1.0, unit: str = "", digits: int = 4) -> str:
    """``digits`` significant digits, thousands separated, never an exponent above 1."""
    if value is None or not math.isfinite(value):
        return "–"
    scaled = value * scale
    text = f"{scaled:,.0f}" if abs(scaled) >= 10 ** digits else f"{scaled:,.{digits}g}"
    return text + unit


def _cells(*values: Any) -> list[Cell]:
    return [v if isinstance(v, Cell) else Cell(str(v)) for v in values]


def cost_provenance(report: Report, key: str) -> Cell:
    """Costs are the analytic model's prediction unless the catalog holds a measurement."""
    if key in report.candidates.measured:
        return Cell("predicted; measured too", "measured")
    return Cell("predicted (cost model)", "predicted")


def question_fields(report: Report) -> list[tuple[str, str]]:
    q = report.question
    from vlmplanner.planner.planner import describe_budget

    budget = describe_budget(q.budget).removeprefix("a budget of ") if q.budget.model_dump(
        exclude_none=True, exclude={"latency_kind"}) else "none"
    w = q.workload
    workload = (f"{w.text_tokens} text tokens, {w.output_tokens} output tokens, {w.images_per_request} image(s)"
                f" per request, batch {w.batch_size}" + (f", image {w.image_size[1]}x{w.image_size[0]}"
                                                         if w.image_size else ""))
    return [
        ("task", f"{q.task} ({q.task_metric})"),
        ("budget", budget),
        ("workload", workload),
        ("hardware", ", ".join(h or "none (FLOPs and memory only)" for h in q.hardware)),
        ("accounting", f"{q.accounting}, {q.dtype}"),
        ("candidates", (f"{len(report.candidates):,} with a quality estimate" +
                        (" (runnable only)" if q.include == "runnable" else " (what-ifs included)") +
                        (f"; {report.without_estimate} model/compressor pairs have none" if report.without_estimate
                         else ""))),
        ("filters", ", ".join(f"{k}={v}" for k, v in q.filters.items()) or "none"),
        ("catalog", f"{report.catalog_url} (data version {report.data_version or 'unknown'})"),
        ("generated", f"{report.generated_at.isoformat()} by vlmplanner {report.version}"),
    ]


def _quality(report: Report, i: int) -> str:
    c = report.candidates
    interval = f" [{c.low[i]:.4g}, {c.high[i]:.4g}]" if math.isfinite(c.low[i]) else ""
    return f"{c.score[i]:.4g}{interval}" + (" (extrapolated)" if c.extrapolated[i] else "")


def _money(section: HardwareSection, values: np.ndarray, i: int) -> str:
    why = section.available("usd")
    return f"unavailable ({why.split(': ', 1)[-1]})" if why else fmt(values[i], 1, " USD", 4)


def section_cards(report: Report) -> list[Card]:
    index = {key: i for i, key in enumerate(report.candidates.keys)}
    cards = []
    for section in report.sections:
        rec = section.recommendation
        if rec is None:
            cards.append(Card(hardware=section.name, fields=[], reason=None, problem=section.problem,
                              cheapest=_cheapest(report, section)))
            continue
        i = index[rec.key]
        q = rec.quality
        correct = section.usd_per_1k_correct(report.candidates)
        fields = [
            ("choice", Cell(rec.key)),
            ("runnable", Cell("yes", "runnable") if rec.runnable.runnable else Cell(
                "no — a what-if: " + "; ".join(rec.runnable.reasons) +
                f" (best runnable within budget: {rec.runnable_alternative or 'none'})", "what-if")),
            ("quality", Cell(f"{_quality(report, i)} {q.metric}")),
            ("quality from", Cell(report.candidates.provenance[i], report.candidates.provenance[i])),
            ("sources", Cell(report.candidates.sources[i] or "; ".join(q.sources) or "–")),
            ("compute", Cell(f"{fmt(rec.cost.flops, 1e-9, ' GFLOPs')} per request ({rec.cost.accounting} accounting)")),
            ("memory", Cell(f"{fmt(rec.cost.memory_bytes, 1e-9, ' GB', 3)} for the batch")),
            ("latency", Cell(fmt(section.latency_s[i], 1e3, " ms") if section.hardware else "unavailable (no hardware)")),
            ("per 1k requests", Cell(_money(section, section.usd_per_1k, i))),
            ("per 1k correct answers", Cell(_money(section, correct, i))),
            ("cost from", cost_provenance(report, rec.key)),
        ]
        cards.append(Card(hardware=section.name, fields=fields, reason=rec.reason, problem=section.problem,
                          notes=list(rec.cost.notes)))
    return cards


def _cheapest(report: Report, section: HardwareSection) -> Table:
    label, unit, scale = AXES[section.budget_axis]
    values = report.values(section, section.budget_axis)
    rows = [_cells(*_candidate(report, i), fmt(values[i], scale),
                   _runnable(report, i)) for i in section.cheapest]
    return Table(f"Cheapest options on {section.name} ({label})", ["candidate", "quality", "quality from",
                                                                   unit, "runnable"], rows)


def _candidate(report: Report, i: int) -> list[Cell]:
    """A candidate's first cells in every candidate table: its key, quality and where that came from."""
    c = report.candidates
    return [Cell(c.keys[i]), Cell(_quality(report, i)), Cell(c.provenance[i], c.provenance[i])]


def _runnable(report: Report, i: int) -> Cell:
    if report.candidates.runnable[i]:
        return Cell("yes", "runnable")
    return Cell("no: " + report.candidates.why_not_runnable[i], "what-if")


def hardware_table(report: Report) -> Table:
    """The question on each profile side by side: choice, latency and money."""
    index = {key: i for i, key in enumerate(report.candidates.keys)}
    rows = []
    for section in report.sections:
        hw = section.hardware
        price = fmt(hw.price_usd_per_hour, 1, " USD/h") if hw and hw.price_usd_per_hour else "no price"
        rec = section.recommendation
        if rec is None:
            rows.append(_cells(section.name, price, Cell(section.problem or "no recommendation", "problem"),
                               "–", "–", "–", "–", "–", f"{int(section.within_budget.sum()):,}"))
            continue
        i = index[rec.key]
        correct = section.usd_per_1k_correct(report.candidates)
        rows.append(_cells(section.name, price, rec.key, _quality(report, i),
                           fmt(section.prefill_s[i], 1e3, " ms") if hw else "unavailable",
                           fmt(section.latency_s[i], 1e3, " ms") if hw else "unavailable",
                           _money(section, section.usd_per_1k, i), _money(section, correct, i),
                           f"{int(section.within_budget.sum()):,}"))
    return Table("Hardware side by side", ["hardware", "price", "choice", "quality", "prefill", "latency",
                                           "per 1k requests", "per 1k correct", "within budget"], rows,
                 note="Latency is the analytic roofline model's (predicted, not measured) for one batch; money is"
                      " device time at the profile's hourly price. Per correct answer divides by the score as a"
                      " share of its maximum.", anchor="hardware")


def frontier_table(report: Report, section: HardwareSection, axis: str) -> Table:
    label, unit, scale = AXES[axis]
    values = report.values(section, axis)
    points = section.frontier[axis]
    rows = [_cells(*_candidate(report, i), fmt(values[i], scale),
                   "yes" if section.within_budget[i] else "no", _runnable(report, i)) for i in points[:FRONTIER_ROWS]]
    more = f"; the first {FRONTIER_ROWS} of {len(points)} are listed" if len(points) > FRONTIER_ROWS else ""
    return Table(f"Pareto frontier on {section.name}: quality against {label}",
                 ["candidate", "quality", "quality from", unit, "within budget", "runnable"], rows,
                 note=f"Cheapest first; no other candidate is both cheaper and better{more}.")


def breakdown_table(report: Report, section: HardwareSection) -> Table:
    rows = []
    batch = report.question.workload.batch_size
    for rank, b in enumerate(section.breakdowns, 1):
        phases = flops_by_phase(b.flops)
        memory = memory_by_part(b.memory_bytes)
        rows.append(_cells(f"#{rank}", b.candidate, *(fmt(v, 1e-9) for v in phases.values()),
                           fmt(memory["weights"], 1e-9, digits=3),
                           fmt(b.memory_bytes.get("kv_cache_per_request"), 1e-6, digits=4),
                           fmt(memory["KV cache (batch)"], 1e-6, digits=4),
                           fmt(b.memory_bytes.get("total"), 1e-9, digits=3)))
    phases_header = list(flops_by_phase(section.breakdowns[0].flops)) if section.breakdowns else []
    return Table(f"Where the compute and memory go on {section.name}",
                 ["rank", "candidate", *(f"{p} GFLOPs" for p in phases_header), "weights GB",
                  "KV cache per request MB", f"KV cache batch of {batch} MB", "total memory GB"], rows,
                 note="#1 is the choice (or the cheapest option when nothing fits); FLOPs per request, memory for"
                      " the batch; all predicted by the analytic cost model (docs/cost-model.md).")


def law_tables(curve: LawCurve) -> tuple[Table, Table]:
    p = curve.parameters
    params = Table(f"Law {curve.label}", ["benchmark", "compressor", "family", "α", "β", "A", "D", "R²",
                                          "LOO MAE (points)", "V* (optimal visual tokens)", "fitted on"],
                   [_cells(curve.benchmark, curve.compressor, curve.family, fmt(p["alpha"]), fmt(p["beta"]),
                           fmt(p["A"]), fmt(p["D"]), fmt(p["r2"], digits=3), fmt(p["loo_mae_points"], digits=3),
                           "all tokens (∞)" if p["optimal_visual_tokens"] is None
                           else fmt(p["optimal_visual_tokens"], digits=3),
                           f"{int(p['n_points'] or 0)} points")],
                   note="Error = A·N^-α·V^-β + D (N: LLM parameters in billions, V: visual tokens); the band is"
                        " the prediction's 90% interval.")
    points = Table(f"The results behind {curve.label}", ["model", "LLM B", "V", "score", "from", "source"],
                   [_cells(pt.model, fmt(pt.params_b), fmt(pt.visual_tokens), fmt(pt.score),
                           Cell(pt.provenance, pt.provenance.split("/")[0]), "; ".join(pt.sources) or "–")
                    for pt in curve.points])
    return params, points


def candidate_table(report: Report, section: HardwareSection) -> Table:
    c = report.candidates
    order = np.lexsort((-c.score, ~section.within_budget))[:CANDIDATE_ROWS]
    correct = section.usd_per_1k_correct(c)
    latency, money = section.available("latency_s") is None, section.available("usd") is None
    headers = ["candidate", "quality", "quality from", "GFLOPs", "memory GB", *(["latency ms"] if latency else []),
               *(["per 1k requests", "per 1k correct"] if money else []), "within budget", "runnable"]
    rows = [_cells(*_candidate(report, i), fmt(c.flops[i], 1e-9),
                   fmt(c.memory_bytes[i], 1e-9, digits=3), *([fmt(section.latency_s[i], 1e3)] if latency else []),
                   *([_money(section, section.usd_per_1k, i), _money(section, correct, i)] if money else []),
                   "yes" if section.within_budget[i] else "no", _runnable(report, i)) for i in order]
    missing = "; ".join(why for axis in ("latency_s", "usd") if (why := section.available(axis)))
    return Table(f"Candidates on {section.name}", headers, rows,
                 note=f"Best within budget first; {min(len(c), CANDIDATE_ROWS)} of {len(c):,} shown. The JSON"
                      " and CSV formats of this report hold every candidate." + (f" Not shown: {missing}." if missing
                                                                                else ""))


def provenance_table() -> Table:
    return Table("Where the numbers come from", ["label", "meaning"],
                 [[Cell(k, k), Cell(v)] for k, v in PROVENANCE.items()],
                 note="Costs (FLOPs, memory, latency, money) are predicted by the analytic cost model with fixed"
                      " roofline efficiencies unless marked measured; measured costs are listed with their device.")


def measured_table(report: Report) -> Table | None:
    rows = []
    for key, measurements in report.candidates.measured.items():
        for m in measurements:
            rows.append(_cells(key, m.get("device", "?"), m.get("dtype", "?"), fmt(m.get("prefill_ms"), 1, " ms"),
                               fmt(m.get("decode_ms_per_token"), 1, " ms"),
                               fmt(m.get("peak_memory_bytes"), 1e-9, " GB", 3), m.get("recorded_at") or "–"))
    if not rows:
        return None
    return Table("Measured costs in the catalog for this workload", ["candidate", "device", "dtype", "prefill",
                                                                      "decode per token", "peak memory", "recorded"],
                 rows)


def tables(report: Report) -> dict[str, Any]:
    """Every table of the report, by where it goes."""
    return {
        "hardware": hardware_table(report),
        "provenance": provenance_table(),
        "measured": measured_table(report),
        "laws": [law_tables(curve) for curve in report.laws],
        "laws_note": laws_note(report),
    }


def laws_note(report: Report) -> str:
    """Whether the laws drawn are the ones behind the choice's quality."""
    if not report.laws:
        return ("No fitted scaling law covers this task's benchmarks; every quality shown is a result from the"
                " catalog.")
    if any(curve.chosen is not None for curve in report.laws):
        return "The first law is the one for the chosen family and compressor; the star marks the choice."
    return ("No fitted law covers the chosen configuration (its quality is a catalog result); shown are the laws"
            " fitted on this task's benchmarks, for context.")
