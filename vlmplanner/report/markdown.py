"""The report as Markdown for pull requests and wikis: the same tables as the HTML, no plots.

User-supplied text is escaped so that it shows as written: HTML is neutralised (``<`` becomes
``&lt;``; GitHub and most renderers let raw HTML through), and Markdown's own punctuation and
table pipes are backslash-escaped.
"""

from __future__ import annotations

import re

from . import views
from .content import AXES, Report
from .views import Cell, Table

__all__ = ["escape_markdown", "markdown_table", "render_markdown"]

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: what can open inline markup mid-line: emphasis, code, links and images (``[``), tables, strikethrough
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown inline text: no markup, no HTML, no line breaks."""
    text = "".join(_HTML.get(ch, ch) for ch in str(text))
    text = _PUNCTUATION.sub(r"\\\1", text)
    return re.sub(r"\s*[\r\n]+\s*", " ", text)


def _cell(cell: Cell) -> str:
    text = escape_markdown(cell.text)
    return f"**{text}**" if cell.tag in ("what-if", "problem") else text


def markdown_table(t: Table | None, level: int = 3) -> list[str]:
    if t is None:
        return []
    lines = [f"{'#' * level} {escape_markdown(t.title)}", ""]
    lines.append("| " + " | ".join(escape_markdown(h) for h in t.headers) + " |")
    lines.append("|" + "---|" * len(t.headers))
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows)
    if not t.rows:
        lines.append("| none |" + " |" * (len(t.headers) - 1))
    if t.note:
        lines += ["", f"_{escape_markdown(t.note)}_"]
    return [*lines, ""]


def render_markdown(report: Report) -> str:
    everything = views.tables(report)
    lines = [f"# {escape_markdown(report.title)}", ""]
    lines += [f"- **{label}**: {escape_markdown(value)}" for label, value in views.question_fields(report)]
    lines += ["", "## Recommendation", ""]
    for card in views.section_cards(report):
        lines += [f"### {escape_markdown(card.hardware)}", ""]
        if card.problem:
            lines += [f"> **No recommendation:** {escape_markdown(card.problem)}", ""]
        lines += [f"- **{label}**: {_cell(value)}" for label, value in card.fields]
        if card.reason:
            lines += ["", f"**Why:** {escape_markdown(card.reason)}"]
        lines.append("")
        lines += markdown_table(card.cheapest, 4)
    lines += markdown_table(everything["hardware"])
    for section in report.sections:
        lines += [f"## Quality against cost on {escape_markdown(section.name)}", ""]
        for axis, (label, _, _) in AXES.items():
            why = section.available(axis)
            if why:
                lines += [f"_{escape_markdown(label.capitalize())}: {escape_markdown(why)}._", ""]
            else:
                lines += markdown_table(views.frontier_table(report, section, axis), 3)
        if section.breakdowns:
            lines += markdown_table(views.breakdown_table(report, section))
        lines += markdown_table(views.candidate_table(report, section))
    lines += ["## Scaling laws", ""]
    lines += [f"_{escape_markdown(everything['laws_note'])}_", ""]
    for params, points in everything["laws"]:
        lines += markdown_table(params) + markdown_table(points, 4)
    lines += ["## Provenance", "", *markdown_table(everything["provenance"]), *markdown_table(everything["measured"])]
    lines += ["_The HTML version of this report (`--output report.html`) draws the frontier, the breakdown and the"
              " laws._", ""]
    return "\n".join(lines)
