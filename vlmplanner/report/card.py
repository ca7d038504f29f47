"""A recommendation as a small HTML card, for Jupyter's rich display (no plots, no extra needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .views import Cell, fmt

if TYPE_CHECKING:
    from vlmplanner.planner import Recommendation

__all__ = ["recommendation_card"]


def recommendation_card(rec: Recommendation) -> str:
    from .html import environment

    q, c = rec.quality, rec.cost
    interval = f" [{q.low:.4g}, {q.high:.4g}]" if q.low is not None and q.high is not None else ""
    fields = [
        ("choice", Cell(rec.key)),
        ("runnable", Cell("yes", "runnable") if rec.runnable.runnable else Cell(
            "no — a what-if: " + "; ".join(rec.runnable.reasons), "what-if")),
        ("quality", Cell(f"{q.score:.4g}{interval} {q.metric}" + (" (extrapolated)" if q.extrapolated else ""))),
        ("quality from", Cell(q.provenance, q.provenance)),
        ("sources", Cell("; ".join(q.sources) or "–")),
        ("compute", Cell(f"{fmt(c.flops, 1e-9, ' GFLOPs')} per request ({c.accounting} accounting)")),
        ("memory", Cell(f"{fmt(c.memory_bytes, 1e-9, ' GB', 3)}")),
        ("latency", Cell(f"{fmt(c.latency_s, 1e3, ' ms')} on {c.hardware}" if c.hardware else "– (no hardware)")),
        ("per 1k requests", Cell(fmt(c.usd_per_1k_requests, 1, " USD") if c.usd_per_1k_requests is not None
                                 else "unavailable (no price)")),
        ("cost from", Cell("predicted (cost model)" + ("; measured too" if c.measured else ""), "predicted")),
    ]
    runners = [[Cell(r.key), Cell(f"{r.quality.score:.4g}"), Cell(r.quality.provenance, r.quality.provenance),
                Cell(fmt(r.flops, 1e-9)), Cell(fmt(r.latency_s, 1e3)), Cell("yes" if r.runnable else "no")]
               for r in rec.runners_up]
    return environment().get_template("card.html.j2").render(
        task=rec.task, fields=fields, reason=rec.reason, runners=runners,
        considered=rec.considered, feasible=rec.feasible)
