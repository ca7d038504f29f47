"""The report as one self-contained HTML page: inline CSS and SVG plots, no script, no network.

Rendered with jinja2 with autoescaping on, so every user-supplied string (model names, sources,
notes) is text, never markup; the only markup inserted unescaped is the SVG matplotlib wrote,
whose text matplotlib escapes itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .content import AXES, Report
from .views import (
    breakdown_table,
    candidate_table,
    frontier_table,
    question_fields,
    section_cards,
    tables,
)

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["environment", "render_html"]


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates next to this module, autoescaped (also for templates named without .html)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("vlmplanner.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _markup(svg: str) -> Any:
    from markupsafe import Markup

    return Markup(svg)


def _section_views(report: Report) -> list[dict[str, Any]]:
    from .plots import breakdown_svg, frontier_svg

    index = {key: i for i, key in enumerate(report.candidates.keys)}
    views = []
    for n, section in enumerate(report.sections):
        chosen = index.get(section.recommendation.key) if section.recommendation else None
        panels = []
        for axis, (label, unit, _) in AXES.items():
            why = section.available(axis)
            panel: dict[str, Any] = {"axis": axis, "label": label, "unit": unit, "missing": why, "svg": None,
                                     "table": None}
            if why is None:
                panel["svg"] = _markup(frontier_svg(report.candidates, section, axis, report.values(section, axis),
                                                    report.budget_limit(axis), chosen, salt=f"f{n}{axis}"))
                panel["table"] = frontier_table(report, section, axis)
            panels.append(panel)
        default = next((i for i, p in enumerate(panels) if p["axis"] == section.budget_axis), 0)
        views.append({
            "index": n, "name": section.name, "panels": panels, "default": default,
            "breakdown_svg": _markup(breakdown_svg(section, salt=f"b{n}")) if section.breakdowns else None,
            "breakdown": breakdown_table(report, section) if section.breakdowns else None,
            "candidates": candidate_table(report, section),
        })
    return views


def render_html(report: Report) -> str:
    from .plots import law_svg

    everything = tables(report)
    laws = [{"curve": curve, "svg": _markup(law_svg(curve, salt=f"l{n}")), "params": params, "points": points}
            for n, (curve, (params, points)) in enumerate(zip(report.laws, everything["laws"]))]
    return environment().get_template("report.html.j2").render(
        title=report.title, question=question_fields(report), cards=section_cards(report),
        hardware=everything["hardware"], sections=_section_views(report), laws=laws,
        provenance=everything["provenance"], measured=everything["measured"],
        laws_note=everything["laws_note"],
    )
